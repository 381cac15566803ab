#include "buffer/buffer_store.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <system_error>

#include "buffer/drop_reason.hpp"

namespace edgesync::agent {
namespace {

constexpr std::uint64_t kReserveStep = 65536;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS records(
  seq INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  received_ns INTEGER NOT NULL,
  qos INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_letter(
  seq INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  received_ns INTEGER NOT NULL,
  qos INTEGER NOT NULL,
  reason TEXT NOT NULL,
  dead_lettered_ns INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('epoch', 0), ('schema_version', 1),
  ('quarantined_files', 0), ('dead_lettered', 0), ('dead_letter_purged', 0);
)sql";

// The meta rows of the drop counters: one per DropReason, and purge.
std::string drop_counter_rows_sql() {
  std::string sql =
      "INSERT OR IGNORE INTO meta(key, value) VALUES ('" + drop_meta_key(kPurgeDropName) + "', 0)";
  for (const DropReason r : kAllDropReasons) sql += ", ('" + drop_meta_key(r) + "', 0)";
  return sql;
}

// "" when the file is usable, else why not; `full` is set when the check failed for a full disk.
struct CheckResult {
  std::string why;
  bool full = false;  // not the file's fault (disk full, I/O error creating -shm/-wal, locks)
};

// Only a damaged file is quarantined: SQLITE_CORRUPT / SQLITE_NOTADB or a failed quick_check.
// Anything else (a full disk makes creating the -shm fail with SQLITE_IOERR, permissions, locks)
// says nothing about the data, and moving the file aside would throw records away.
bool environmental(int rc) {
  const int primary = rc & 0xff;
  return primary != SQLITE_CORRUPT && primary != SQLITE_NOTADB;
}

std::string utc_stamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// A file SQLite finds sound can still break the buffer's own invariants (a hand-edited or
// damaged file that stays well-formed): seqs must lie in [1, kSeqLimit), or every later insert
// fails and ingest stalls. Tables that do not exist yet are not checked (created on open).
std::string seq_space_violation(sqlite::Db& db) {
  static constexpr std::pair<const char*, const char*> kChecks[] = {
      {"records", "SELECT count(*) FROM records WHERE seq < 1 OR seq >= ?1"},
      {"dead_letter", "SELECT count(*) FROM dead_letter WHERE seq < 1 OR seq >= ?1"},
      {"meta", "SELECT count(*) FROM meta WHERE key = 'next_seq' AND (value < 1 OR value > ?1)"},
  };
  for (const auto& [table, sql] : kChecks) {
    try {
      sqlite::Stmt st(db, sql);
      st.bind(1, static_cast<std::int64_t>(kSeqLimit));
      if (st.step() == SQLITE_ROW && st.int64(0) > 0) {
        return "table " + std::string(table) + " holds " + std::to_string(st.int64(0)) +
               " sequence number(s) outside [1, 2^62)";
      }
    } catch (const sqlite::Error&) {
      // no such table (or column): the schema step decides about foreign files
    }
  }
  return "";
}

CheckResult check_file(const std::string& path) {
  try {
    sqlite::Db db(path, SQLITE_OPEN_READWRITE);
    db.busy_timeout(sqlite::kWriterBusyTimeoutMs);
    sqlite::Stmt st(db, "PRAGMA quick_check");
    std::string verdict;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      if (!verdict.empty()) verdict += "; ";
      verdict += st.text(0);
    }
    if (rc != SQLITE_DONE) return {"quick_check failed: " + db.errmsg(), environmental(rc)};
    if (verdict != "ok") return {"quick_check: " + verdict.substr(0, 300)};
    return {seq_space_violation(db)};
  } catch (const sqlite::Error& e) {
    return {e.what(), environmental(e.code())};
  }
}

void quarantine(const std::string& path, const std::string& reason, StoreOpenResult* r) {
  const std::string target = path + ".corrupt-" + utc_stamp();
  std::error_code ec;
  std::filesystem::rename(path, target, ec);
  for (const char* suffix : {"-wal", "-shm"}) {
    std::filesystem::rename(path + suffix, target + suffix, ec);
  }
  spdlog::critical(
      "buffer: database {} is unusable ({}); moved it to {} and starting with an EMPTY buffer. "
      "Records still in the old file were not sent; recover them with sqlite3 '.recover' if "
      "needed.",
      path, reason, target);
  r->quarantined_to = target;
  r->quarantine_reason = reason;
}

sqlite::Db open_once(const std::string& path, bool synchronous_full, bool check,
                     StoreOpenResult* result) {
  if (check && std::filesystem::exists(path)) {
    auto c = check_file(path);
    if (c.full) {
      const std::int64_t free = free_disk_bytes(path);
      throw sqlite::Error(free >= 0 && free < (1 << 20) ? SQLITE_FULL : SQLITE_CANTOPEN,
                          "cannot check " + path + " (" + c.why + "; " + std::to_string(free) +
                              " bytes free on its file system)");
    }
    if (!c.why.empty()) quarantine(path, c.why, result);
  }
  // The last run gave up on this file (every write failed for good): move it aside now.
  if (auto rescue = read_rescue(path + kDamagedMarkerSuffix)) {
    if (result->quarantined_to.empty() && std::filesystem::exists(path)) {
      quarantine(path, "the last run could not write to it: " + rescue->reason, result);
    }
    result->rescue = std::move(rescue);
  }
  std::error_code ec;
  const bool existed = std::filesystem::file_size(path, ec) > 0 && !ec;
  sqlite::Db db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  db.busy_timeout(sqlite::kWriterBusyTimeoutMs);
  // Must precede the first table: lets the agent hand free pages back after a long outage drains.
  // An existing file keeps its mode (changing it needs a VACUUM; setting it may write).
  if (!existed) {
    db.exec("PRAGMA page_size=" + std::to_string(kNewFilePageSize));
    db.exec("PRAGMA auto_vacuum=INCREMENTAL");
  }
  db.exec("PRAGMA journal_mode=WAL");
  db.exec(synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  db.exec("PRAGMA journal_size_limit=67108864");  // WAL shrinks back to 64 MiB after checkpoints
  db.exec("PRAGMA wal_autocheckpoint=" + std::to_string(kWalCheckpointPages));
  // Debian builds SQLite with SECURE_DELETE: every deleted record would be overwritten with zeros,
  // a page write per ack. FAST zeroes only what is written anyway (P5: 3.4x -> 2.7x the payload).
  db.exec("PRAGMA secure_delete=FAST");
  db.exec(kSchema);
  db.exec(drop_counter_rows_sql());
  {
    sqlite::Stmt st(db, "SELECT count(*) FROM meta WHERE key = 'next_seq'");
    result->fresh = st.step() == SQLITE_ROW && st.int64(0) == 0;
  }
  if (!result->quarantined_to.empty()) {
    db.exec("UPDATE meta SET value = value + 1 WHERE key = 'quarantined_files'");
  }
  return db;
}

}  // namespace

bool is_permanent_code(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
    case SQLITE_FORMAT:
    case SQLITE_ERROR:
      return true;
    default:
      return false;
  }
}

bool is_disk_full_code(int rc) {
  return (rc & 0xff) == SQLITE_FULL;
}

sqlite::Db open_store(const std::string& path, bool synchronous_full, bool check,
                      StoreOpenResult* result, DiskReserve* reserve) {
  // Nearly no space: let go of the reserve before SQLite needs room for the -shm and -wal.
  if (const auto free = free_disk_bytes(path); reserve && free >= 0 && free < (1 << 20)) {
    reserve->release();
  }
  try {
    return open_once(path, synchronous_full, check, result);
  } catch (const sqlite::Error& e) {
    const std::int64_t free = free_disk_bytes(path);
    if (!is_disk_full_code(e.code()) && !(free >= 0 && free < (1 << 20))) throw;
    const std::uint64_t freed = reserve ? reserve->release() : 0;
    if (freed == 0) {
      throw sqlite::Error(
          e.code(), std::string(e.what()) + " - the disk holding " + path +
                        " is full and there is no disk reserve to release (buffer."
                        "disk_reserve_bytes): free space on that file system, then start again");
    }
    spdlog::warn("buffer: disk full while opening {}; retrying with the {} bytes of the reserve",
                 path, freed);
    return open_once(path, synchronous_full, check, result);
  }
}

std::string new_buffer_id() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 4; ++i) {
    const std::uint32_t v = rd();
    for (int sh = 28; sh >= 0; sh -= 4) id += kHex[(v >> sh) & 15];
  }
  return id;
}

std::string read_buffer_id(const std::string& db_path) {
  std::ifstream in(db_path + ".seqfloor");
  unsigned long long v = 0;
  std::string key, id;
  if (in >> v >> key >> id && key == "buffer_id" && valid_buffer_id(id)) return id;
  return "";
}

bool valid_buffer_id(const std::string& s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

SeqFloor::SeqFloor(std::string db_path) : path_(std::move(db_path) + ".seqfloor") {
  std::ifstream in(path_);
  unsigned long long v = 0;
  if (in >> v) reserved_ = v;
  if (reserved_ >= kSeqLimit) {
    spdlog::error(
        "buffer: {} reserves sequence numbers through {}, beyond the buffer's space "
        "(2^62): the file is damaged and is ignored",
        path_, reserved_);
    reserved_ = 0;
  }
  std::string key, id;
  if (in >> key >> id && key == "buffer_id" && valid_buffer_id(id)) {
    buffer_id_ = id;
  } else {
    if (!key.empty() || reserved_ > 0) {
      spdlog::warn("buffer: {} holds no valid buffer_id (32 lowercase hex); creating a new one",
                   path_);
    }
    buffer_id_ = new_buffer_id();
    id_dirty_ = true;
  }
}

bool SeqFloor::write(std::uint64_t reserved) {
  const std::string tmp = path_ + ".tmp";
  const std::string text = std::to_string(reserved) + "\nbuffer_id " + buffer_id_ + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  last_errno_ = ok ? 0 : errno;
  if (fd >= 0) ::close(fd);
  ok = ok && std::rename(tmp.c_str(), path_.c_str()) == 0;
  if (!ok) {
    if (last_errno_ == 0) last_errno_ = errno;
    ::unlink(tmp.c_str());
    spdlog::error("buffer: cannot write sequence floor {}: {}", path_,
                  std::generic_category().message(last_errno_));
    return false;
  }
  return true;
}

bool SeqFloor::ensure(std::uint64_t next_after_commit) {
  if (next_after_commit <= reserved_ + 1 && !id_dirty_) return true;
  const std::uint64_t want =
      next_after_commit <= reserved_ + 1 ? reserved_ : next_after_commit + kReserveStep;
  if (!write(want)) return false;
  reserved_ = want;
  id_dirty_ = false;
  return true;
}

}  // namespace edgesync::agent
