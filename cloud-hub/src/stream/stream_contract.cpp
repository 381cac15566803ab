#include "stream_contract.hpp"

#include <limits>

#include "edgesync/common/text.hpp"

namespace edgesync::hub {
namespace {

// `identity`: names the hub logs and compares (agent, buffer): no control characters either.
// Record fields only need valid UTF-8 (MQTT allows control characters in topics; logs escape).
std::optional<Violation> check_text(const std::string& v, const std::string& field, std::size_t max,
                                    bool required, bool identity = true) {
  if (required && v.empty()) return Violation{field, "is empty"};
  if (v.size() > max) {
    return Violation{field, std::to_string(v.size()) + " bytes, more than " + std::to_string(max)};
  }
  if (!valid_utf8(v)) return Violation{field, "is not valid UTF-8"};
  if (identity && has_control_chars(v)) return Violation{field, "has control characters"};
  return std::nullopt;
}

// Priority lane (1.4): "" is the default lane. A lane name is part of the registry's key and of
// log lines, so it is a plain word: no case, no separators, no escapes needed.
std::optional<Violation> check_lane(const std::string& lane) {
  if (lane.size() > kMaxLaneBytes) {
    return Violation{"hello.lane", std::to_string(lane.size()) + " bytes, more than " +
                                       std::to_string(kMaxLaneBytes)};
  }
  for (std::size_t i = 0; i < lane.size(); ++i) {
    const char c = lane[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
      return Violation{"hello.lane", "byte " + std::to_string(i) +
                                         " is not one of [a-z0-9_-] (a lane is \"\" or 1-" +
                                         std::to_string(kMaxLaneBytes) + " such bytes)"};
    }
  }
  return std::nullopt;
}

std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) {
  return a > std::numeric_limits<std::uint64_t>::max() - b
             ? std::numeric_limits<std::uint64_t>::max()
             : a + b;
}

std::uint64_t sat_mul(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) {
    return std::numeric_limits<std::uint64_t>::max();
  }
  return a * b;
}

}  // namespace

std::optional<Violation> check_hello(const v1::Hello& h) {
  if (auto v = check_text(h.agent_id(), "hello.agent_id", kMaxAgentIdBytes, true)) return v;
  if (auto v = check_text(h.buffer_id(), "hello.buffer_id", kMaxBufferIdBytes, false)) return v;
  if (auto v = check_text(h.agent_version(), "hello.agent_version", 64, false)) return v;
  if (auto v = check_lane(h.lane())) return v;
  if (h.next_seq() == 0) return Violation{"hello.next_seq", "is 0 (seqs start at 1)"};
  if (h.first_unacked_seq() >= h.next_seq()) {
    return Violation{"hello.first_unacked_seq", std::to_string(h.first_unacked_seq()) +
                                                    " is not below next_seq " +
                                                    std::to_string(h.next_seq())};
  }
  return std::nullopt;
}

std::uint64_t seq_ceiling(const StreamState& s, const BatchLimits& limits,
                          std::chrono::steady_clock::duration since_hello) {
  const auto secs = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::seconds>(since_hello).count()));
  return sat_add(s.hello_next_seq - 1, sat_mul(limits.max_seq_rate, secs + 1));
}

std::optional<Violation> check_batch(const v1::Batch& b, const StreamState& s,
                                     const BatchLimits& limits,
                                     std::chrono::steady_clock::duration since_hello) {
  const auto n = static_cast<std::size_t>(b.records_size());
  if (n == 0) return Violation{"batch.records", "is empty"};
  if (n > limits.max_records) {
    return Violation{"batch.records", std::to_string(n) +
                                          " records, more than hub.max_batch_records " +
                                          std::to_string(limits.max_records)};
  }
  const std::uint64_t ceiling = seq_ceiling(s, limits, since_hello);
  std::uint64_t last = s.last_seq;
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& r = b.records(static_cast<int>(i));
    // The field name is built only for a violation: nothing is allocated per good record.
    const auto at = [i](const char* field) {
      return "batch.records[" + std::to_string(i) + "]." + field;
    };
    if (r.seq() == 0) return Violation{at("seq"), "is 0 (seqs start at 1)"};
    if (r.seq() <= last) {
      return Violation{at("seq"), std::to_string(r.seq()) + " is not above the stream's last seq " +
                                      std::to_string(last)};
    }
    if (r.seq() < s.first_allowed) {
      return Violation{at("seq"), std::to_string(r.seq()) +
                                      " is below what the hello said the buffer holds (" +
                                      std::to_string(s.first_allowed) + ")"};
    }
    if (r.seq() > ceiling) {
      return Violation{at("seq"), std::to_string(r.seq()) +
                                      " is beyond any seq the agent can have assigned yet (" +
                                      std::to_string(ceiling) + ", hub.max_seq_rate)"};
    }
    if (r.device_id().size() > kMaxDeviceIdBytes || !valid_utf8(r.device_id())) {
      return check_text(r.device_id(), at("device_id"), kMaxDeviceIdBytes, false, false);
    }
    if (r.mqtt_topic().empty() || r.mqtt_topic().size() > kMaxTopicBytes ||
        !valid_utf8(r.mqtt_topic())) {
      return check_text(r.mqtt_topic(), at("mqtt_topic"), kMaxTopicBytes, true, false);
    }
    bytes += r.payload().size() + r.device_id().size() + r.mqtt_topic().size();
    last = r.seq();
  }
  if (bytes > limits.max_bytes) {
    return Violation{"batch", std::to_string(bytes) + " bytes, more than hub.max_batch_bytes " +
                                  std::to_string(limits.max_bytes)};
  }
  return std::nullopt;
}

}  // namespace edgesync::hub
