#include "cli/inspect.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "buffer/buffer.hpp"
#include "buffer/buffer_store.hpp"
#include "cli/inspect_format.hpp"
#include "cli/time_spec.hpp"

namespace edgesync::agent {
namespace {

std::uint64_t file_size_or_zero(const std::string& p) {
  std::error_code ec;
  auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : n;
}

std::string ago(std::int64_t unix_ns, std::int64_t now) {
  const double s = static_cast<double>(now - unix_ns) / 1e9;
  char buf[64];
  if (s < 120)
    std::snprintf(buf, sizeof buf, "%.1f s ago", s);
  else if (s < 7200)
    std::snprintf(buf, sizeof buf, "%.1f min ago", s / 60);
  else if (s < 172800)
    std::snprintf(buf, sizeof buf, "%.1f h ago", s / 3600);
  else
    std::snprintf(buf, sizeof buf, "%.1f d ago", s / 86400);
  return buf;
}

std::string when(std::int64_t unix_ns, std::int64_t now) {
  if (unix_ns == 0) return "-";
  return iso8601_utc(unix_ns, 3) + " (" + ago(unix_ns, now) + ")";
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
    else if (k.starts_with("dropped_"))
      s.dropped[k.substr(8)] = v;
  }
}

template <class T>
nlohmann::json opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

bool state_stale(const BufferStatus& s) {
  return !s.state.updated_unix_ns ||
         s.read_at_unix_ns - *s.state.updated_unix_ns > kStateStaleAfterNs;
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
  for (int r = 0; r < kDropReasons; ++r)
    s.dropped[drop_reason_name(static_cast<DropReason>(r))] = 0;
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

bool disk_full(const BufferStatus& s) {
  return !state_stale(s) && s.state.buffer_state == "disk full";
}

nlohmann::json to_json(const BufferStatus& s) {
  std::uint64_t total = 0;
  nlohmann::json dropped = nlohmann::json::object();
  for (const auto& [k, v] : s.dropped) {
    dropped[k] = v;
    total += v;
  }
  dropped["total"] = total;
  const auto& a = s.state;
  std::optional<double> age_s;
  if (a.updated_unix_ns) age_s = static_cast<double>(s.read_at_unix_ns - *a.updated_unix_ns) / 1e9;
  return nlohmann::json{
      {"buffer_id", s.buffer_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.buffer_id)},
      {"disk_full", disk_full(s)},
      {"records", s.records},
      {"payload_bytes", s.payload_bytes},
      {"first_seq", s.first_seq},
      {"last_seq", s.last_seq},
      {"next_seq", s.next_seq},
      {"epoch", s.epoch},
      {"oldest_received_unix_ns", s.oldest_received_unix_ns},
      {"newest_received_unix_ns", s.newest_received_unix_ns},
      {"file_bytes", s.file_bytes},
      {"dropped", dropped},
      {"quarantined_files", s.quarantined_files},
      {"quarantined", s.quarantined},
      {"dead_letter",
       {{"total", s.dead_lettered},
        {"purged", s.dead_letter_purged},
        {"evicted", s.dead_letter_evicted},
        {"records", s.dead_letter_records},
        {"payload_bytes", s.dead_letter_payload_bytes}}},
      {"state",
       {{"available", a.table_present},
        {"hub_state", a.hub_state.value_or("unknown")},
        {"mqtt_state", a.mqtt_state.value_or("unknown")},
        {"last_sync_unix_ns", opt(a.last_sync_unix_ns)},
        {"last_error", opt(a.last_error)},
        {"buffer_state", a.buffer_state.value_or("unknown")},
        {"updated_unix_ns", opt(a.updated_unix_ns)},
        {"age_s", opt(age_s)},
        {"stale", state_stale(s)}}},
      {"read_at_unix_ns", s.read_at_unix_ns}};
}

std::string to_text(const BufferStatus& s) {
  const auto now = s.read_at_unix_ns;
  std::ostringstream o;
  o << "buffer id      " << (s.buffer_id.empty() ? "-" : s.buffer_id) << "\n";
  if (disk_full(s)) {
    o << "DISK FULL      the disk holding the buffer is full: the agent drops the oldest records "
         "(drop-oldest) or holds MQTT back (block); free space on it\n";
  }
  o << "records        " << s.records << "\n"
    << "payload bytes  " << s.payload_bytes << " (" << human_bytes(s.payload_bytes) << ")\n"
    << "file bytes     " << s.file_bytes << " (database + WAL)\n"
    << "seq range      "
    << (s.records ? std::to_string(s.first_seq) + " .. " + std::to_string(s.last_seq) : "-") << "\n"
    << "next seq       " << s.next_seq << "\n"
    << "session epoch  " << s.epoch << "\n"
    << "oldest record  " << when(s.oldest_received_unix_ns, now) << "\n"
    << "newest record  " << when(s.newest_received_unix_ns, now) << "\n";
  std::uint64_t total = 0;
  std::string parts;
  for (const auto& [k, v] : s.dropped) {
    total += v;
    parts += (parts.empty() ? "" : ", ") + k + " " + std::to_string(v);
  }
  o << "dropped        " << total << " (" << parts << ")\n"
    << "quarantined    " << s.quarantined_files << " files beside the buffer";
  for (const auto& q : s.quarantined) o << "\n               " << q;
  if (!s.quarantined.empty()) o << "\n               (read one: buffer export --db FILE)";
  o << "\n"
    << "dead letters   " << s.dead_letter_records << " stored ("
    << human_bytes(s.dead_letter_payload_bytes) << "), " << s.dead_lettered
    << " moved there in total"
    << (s.dead_letter_evicted ? ", " + std::to_string(s.dead_letter_evicted) + " evicted (bound)"
                              : std::string())
    << " (buffer tail|export --dead-letter)\n";
  const auto& a = s.state;
  o << "hub            " << a.hub_state.value_or("unknown") << "\n"
    << "mqtt           " << a.mqtt_state.value_or("unknown") << "\n"
    << "last sync      " << (a.last_sync_unix_ns ? when(*a.last_sync_unix_ns, now) : "-") << "\n"
    << "last error     " << (a.last_error && !a.last_error->empty() ? *a.last_error : "-") << "\n"
    << "buffer state   " << a.buffer_state.value_or("unknown") << "\n";
  if (!a.table_present) {
    o << "agent state    unknown (no state table: agent version without it, or never started)\n";
  } else if (!a.updated_unix_ns) {
    o << "agent state    unknown (state has no updated_unix_ns)\n";
  } else if (state_stale(s)) {
    o << "agent state    agent not running? state is " << (now - *a.updated_unix_ns) / 1'000'000'000
      << " s old\n";
  } else {
    o << "agent state    updated " << ago(*a.updated_unix_ns, now) << "\n";
  }
  return o.str();
}

}  // namespace edgesync::agent
