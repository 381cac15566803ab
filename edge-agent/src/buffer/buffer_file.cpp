// The buffer file read from outside the agent (buffer_file.hpp): open (read-only, immutable
// for quarantined files), status figures from one snapshot, quarantined files beside it.
#include "buffer/buffer_file.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string_view>

#include "buffer/buffer_store.hpp"
#include "buffer/drop_reason.hpp"
#include "unix_clock.hpp"

namespace edgesync::agent {
namespace {

std::uint64_t file_size_or_zero(const std::string& p) {
  std::error_code ec;
  auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : n;
}

// "file:" URI of a path (SQLite URI filenames: %, ? and # escaped).
std::string sqlite_uri(const std::string& path) {
  std::string uri = "file:";
  for (const char c : path) {
    if (c == '%')
      uri += "%25";
    else if (c == '?')
      uri += "%3f";
    else if (c == '#')
      uri += "%23";
    else
      uri += c;
  }
  return uri;
}

bool has_table(const sqlite::Db& db, const char* name) {
  sqlite::Stmt st(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  st.bind(1, std::string_view(name));
  return st.step() == SQLITE_ROW;
}

std::optional<std::int64_t> to_int(const std::string& s) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

AgentState read_state(const sqlite::Db& db) {
  AgentState st;
  if (!has_table(db, "state")) return st;
  st.table_present = true;
  sqlite::Stmt q(db, "SELECT key, value FROM state");
  while (q.step() == SQLITE_ROW) {
    const auto k = q.text(0);
    if (q.is_null(1)) continue;
    const auto v = q.text(1);
    if (k == "hub_state")
      st.hub_state = v;
    else if (k == "mqtt_state")
      st.mqtt_state = v;
    else if (k == "last_error")
      st.last_error = v;
    else if (k == "buffer_state")
      st.buffer_state = v;
    else if (k == "last_sync_unix_ns")
      st.last_sync_unix_ns = to_int(v);
    else if (k == "updated_unix_ns")
      st.updated_unix_ns = to_int(v);
  }
  return st;
}

void read_records(const sqlite::Db& db, BufferStatus& s) {
  sqlite::Stmt st(db,
                  "SELECT count(*), coalesce(sum(length(payload)), 0), coalesce(min(seq), 0), "
                  "coalesce(max(seq), 0), coalesce(min(received_ns), 0), "
                  "coalesce(max(received_ns), 0) FROM records");
  if (st.step() != SQLITE_ROW) throw sqlite::Error(0, "reading records failed: " + db.errmsg());
  s.records = static_cast<std::uint64_t>(st.int64(0));
  s.payload_bytes = static_cast<std::uint64_t>(st.int64(1));
  s.first_seq = static_cast<std::uint64_t>(st.int64(2));
  s.last_seq = static_cast<std::uint64_t>(st.int64(3));
  s.oldest_received_unix_ns = st.int64(4);
  s.newest_received_unix_ns = st.int64(5);
}

void read_dead_letters(const sqlite::Db& db, BufferStatus& s) {
  if (!has_table(db, "dead_letter")) return;  // file of an older agent
  sqlite::Stmt st(db, "SELECT count(*), coalesce(sum(length(payload)), 0) FROM dead_letter");
  if (st.step() != SQLITE_ROW)
    throw sqlite::Error(0, "reading dead letters failed: " + db.errmsg());
  s.dead_letter_records = static_cast<std::uint64_t>(st.int64(0));
  s.dead_letter_payload_bytes = static_cast<std::uint64_t>(st.int64(1));
}

void read_meta(const sqlite::Db& db, BufferStatus& s) {
  if (!has_table(db, "meta")) return;
  sqlite::Stmt meta(db, "SELECT key, value FROM meta");
  while (meta.step() == SQLITE_ROW) {
    const auto k = meta.text(0);
    const auto v = static_cast<std::uint64_t>(meta.int64(1));
    if (k == "next_seq")
      s.next_seq = v;
    else if (k == "epoch")
      s.epoch = v;
    else if (k == "dead_lettered")
      s.dead_lettered = v;
    else if (k == "dead_letter_purged")
      s.dead_letter_purged = v;
    else if (k == "dead_letter_evicted")
      s.dead_letter_evicted = v;
    else if (k.starts_with(kDropMetaPrefix))
      s.dropped[k.substr(std::string_view(kDropMetaPrefix).size())] = v;
  }
}

}  // namespace

bool is_quarantined(const std::string& db_path) {
  return std::filesystem::path(db_path).filename().string().find(".corrupt-") != std::string::npos;
}

sqlite::Db open_buffer(const std::string& db_path, bool writable) {
  if (!std::filesystem::exists(db_path)) {
    throw std::runtime_error("no buffer database at '" + db_path +
                             "' (check buffer.path in the agent config, or pass --db FILE)");
  }
  if (writable && is_quarantined(db_path)) {
    throw std::runtime_error("'" + db_path +
                             "' is a quarantined buffer file: it is only read (status, tail, "
                             "export), never changed; copy it to change it");
  }
  try {
    // A quarantined file without a WAL beside it opens immutable: nothing is written beside it
    // (no -shm), no lock is taken; one with a WAL opens read-only so that the WAL is read too.
    const bool immutable = is_quarantined(db_path) && !std::filesystem::exists(db_path + "-wal");
    sqlite::Db db(immutable ? sqlite_uri(db_path) + "?immutable=1" : db_path,
                  (writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) |
                      (immutable ? SQLITE_OPEN_URI : 0));
    db.busy_timeout(writable ? sqlite::kWriterBusyTimeoutMs : sqlite::kReaderBusyTimeoutMs);
    if (!has_table(db, "records")) {
      throw std::runtime_error("'" + db_path + "' is not an edgesync buffer (no records table)");
    }
    return db;
  } catch (const sqlite::Error& e) {
    throw std::runtime_error("cannot read '" + db_path + "': " + e.what() +
                             (is_quarantined(db_path)
                                  ? " (a quarantined file may be damaged beyond what SQLite reads; "
                                    "sqlite3 '.recover' salvages what is left)"
                                  : ""));
  }
}

std::vector<std::string> quarantined_files(const std::string& db_path) {
  const std::filesystem::path db(db_path);
  const std::string prefix = db.filename().string() + ".corrupt-";
  std::vector<std::string> found;
  std::error_code ec;
  const auto dir = db.has_parent_path() ? db.parent_path() : std::filesystem::path(".");
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(prefix) && !name.ends_with("-wal") && !name.ends_with("-shm")) {
      found.push_back((db.has_parent_path() ? it->path() : it->path().filename()).string());
    }
  }
  std::ranges::sort(found);  // the stamp is %Y%m%dT%H%M%SZ: name order is time order
  return found;
}

BufferStatus read_buffer_status(const std::string& db_path) {
  sqlite::Db db = open_buffer(db_path, false);
  BufferStatus s;
  for (const DropReason r : kAllDropReasons) s.dropped[drop_reason_name(r)] = 0;
  s.dropped[kPurgeDropName] = 0;
  db.exec("BEGIN");  // one read transaction: all figures come from the same snapshot
  read_records(db, s);
  read_meta(db, s);
  read_dead_letters(db, s);
  s.state = read_state(db);
  db.exec("COMMIT");
  s.buffer_id = read_buffer_id(db_path);
  s.quarantined = quarantined_files(db_path);
  s.quarantined_files = s.quarantined.size();
  s.file_bytes = file_size_or_zero(db_path) + file_size_or_zero(db_path + "-wal");
  s.read_at_unix_ns = now_unix_ns();
  return s;
}

}  // namespace edgesync::agent
