#include "inspect.hpp"

#include <chrono>
#include <filesystem>
#include <sstream>

#include "sqlite.hpp"

namespace edgesync::agent {
namespace {

std::uint64_t file_size_or_zero(const std::string& p) {
  std::error_code ec;
  auto n = std::filesystem::file_size(p, ec);
  return ec ? 0 : n;
}

std::string age(std::int64_t unix_ns) {
  if (unix_ns == 0) return "-";
  const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const double s = static_cast<double>(now - unix_ns) / 1e9;
  std::ostringstream o;
  o.precision(1);
  o << std::fixed << s << " s ago";
  return o.str();
}

}  // namespace

BufferStatus read_buffer_status(const std::string& db_path) {
  if (!std::filesystem::exists(db_path)) {
    throw std::runtime_error("no buffer database at '" + db_path +
                             "' (check buffer.path in the agent config, or pass --db)");
  }
  sqlite::Db db(db_path, SQLITE_OPEN_READONLY);
  db.exec("PRAGMA busy_timeout=5000");
  BufferStatus s;
  sqlite::Stmt st(db,
                  "SELECT count(*), coalesce(sum(length(payload)), 0), coalesce(min(seq), 0), "
                  "coalesce(max(seq), 0), coalesce(min(received_ns), 0), "
                  "coalesce(max(received_ns), 0) FROM records");
  if (st.step() == SQLITE_ROW) {
    s.records = static_cast<std::uint64_t>(st.int64(0));
    s.payload_bytes = static_cast<std::uint64_t>(st.int64(1));
    s.first_seq = static_cast<std::uint64_t>(st.int64(2));
    s.last_seq = static_cast<std::uint64_t>(st.int64(3));
    s.oldest_received_unix_ns = st.int64(4);
    s.newest_received_unix_ns = st.int64(5);
  }
  sqlite::Stmt meta(db, "SELECT key, value FROM meta");
  while (meta.step() == SQLITE_ROW) {
    const auto k = meta.text(0);
    if (k == "next_seq") s.next_seq = static_cast<std::uint64_t>(meta.int64(1));
    if (k == "epoch") s.epoch = static_cast<std::uint64_t>(meta.int64(1));
  }
  s.file_bytes = file_size_or_zero(db_path) + file_size_or_zero(db_path + "-wal");
  return s;
}

nlohmann::json to_json(const BufferStatus& s) {
  return nlohmann::json{{"records", s.records},
                        {"payload_bytes", s.payload_bytes},
                        {"first_seq", s.first_seq},
                        {"last_seq", s.last_seq},
                        {"next_seq", s.next_seq},
                        {"epoch", s.epoch},
                        {"oldest_received_unix_ns", s.oldest_received_unix_ns},
                        {"newest_received_unix_ns", s.newest_received_unix_ns},
                        {"file_bytes", s.file_bytes}};
}

std::string to_text(const BufferStatus& s) {
  std::ostringstream o;
  o << "records        " << s.records << "\n"
    << "payload bytes  " << s.payload_bytes << "\n"
    << "file bytes     " << s.file_bytes << " (database + WAL)\n"
    << "seq range      " << (s.records ? std::to_string(s.first_seq) + " .. " + std::to_string(s.last_seq) : "-")
    << "\n"
    << "next seq       " << s.next_seq << "\n"
    << "session epoch  " << s.epoch << "\n"
    << "oldest record  " << age(s.oldest_received_unix_ns) << "\n"
    << "newest record  " << age(s.newest_received_unix_ns) << "\n";
  return o.str();
}

}  // namespace edgesync::agent
