#include "cli/inspect.hpp"

#include <cstdio>
#include <optional>
#include <sstream>

#include "cli/inspect_format.hpp"
#include "cli/time_spec.hpp"

namespace edgesync::agent {
namespace {

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

template <class T>
nlohmann::json opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

bool state_stale(const BufferStatus& s) {
  return !s.state.updated_unix_ns ||
         s.read_at_unix_ns - *s.state.updated_unix_ns > kStateStaleAfterNs;
}

}  // namespace

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
