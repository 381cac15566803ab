#include "buffer_store.hpp"

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
INSERT OR IGNORE INTO meta(key, value) VALUES ('epoch', 0), ('schema_version', 1),
  ('dropped_oldest', 0), ('dropped_expired', 0), ('dropped_oversize', 0), ('dropped_purge', 0),
  ('dropped_disk_full', 0), ('quarantined_files', 0);
)sql";

std::string utc_stamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// Returns "" when the file is usable, else why not.
std::string check_file(const std::string& path) {
  try {
    sqlite::Db db(path, SQLITE_OPEN_READWRITE);
    db.exec("PRAGMA busy_timeout=10000");
    sqlite::Stmt st(db, "PRAGMA quick_check");
    std::string verdict;
    int rc;
    while ((rc = st.step()) == SQLITE_ROW) {
      if (!verdict.empty()) verdict += "; ";
      verdict += st.text(0);
    }
    if (rc != SQLITE_DONE) return "quick_check failed: " + db.errmsg();
    return verdict == "ok" ? "" : "quick_check: " + verdict.substr(0, 300);
  } catch (const sqlite::Error& e) {
    return e.what();
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

}  // namespace

sqlite::Db open_store(const std::string& path, bool synchronous_full, bool check,
                      StoreOpenResult* result) {
  if (check && std::filesystem::exists(path)) {
    if (auto why = check_file(path); !why.empty()) quarantine(path, why, result);
  }
  sqlite::Db db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  db.exec("PRAGMA busy_timeout=10000");
  // Must precede the first table: lets the agent hand free pages back after a long outage drains.
  db.exec("PRAGMA auto_vacuum=INCREMENTAL");
  db.exec("PRAGMA journal_mode=WAL");
  db.exec(synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  db.exec("PRAGMA journal_size_limit=67108864");  // WAL shrinks back to 64 MiB after checkpoints
  db.exec(kSchema);
  {
    sqlite::Stmt st(db, "SELECT count(*) FROM meta WHERE key = 'next_seq'");
    result->fresh = st.step() == SQLITE_ROW && st.int64(0) == 0;
  }
  if (!result->quarantined_to.empty()) {
    db.exec("UPDATE meta SET value = value + 1 WHERE key = 'quarantined_files'");
  }
  return db;
}

SeqFloor::SeqFloor(std::string db_path) : path_(std::move(db_path) + ".seqfloor") {
  std::ifstream in(path_);
  unsigned long long v = 0;
  if (in >> v) reserved_ = v;
}

bool SeqFloor::ensure(std::uint64_t next_after_commit) {
  if (next_after_commit <= reserved_ + 1) return true;
  const std::uint64_t want = next_after_commit + kReserveStep;
  const std::string tmp = path_ + ".tmp";
  const std::string text = std::to_string(want) + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  ok = ok && std::rename(tmp.c_str(), path_.c_str()) == 0;
  if (!ok) {
    spdlog::error("buffer: cannot write sequence floor {}: {}", path_, std::strerror(errno));
    return false;
  }
  reserved_ = want;
  return true;
}

}  // namespace edgesync::agent
