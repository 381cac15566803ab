// Hub-wide limits a stream must pass before it costs anything (streams open, streams per
// connection) and the hub-wide bound on bytes held for records Kafka has not confirmed. A stream
// that finds no room stops reading and waits here; the bytes Kafka confirms wake the waiters.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "refusal.hpp"

namespace edgesync::hub {

struct AdmissionLimits {
  std::size_t max_streams = 12000;
  std::size_t max_streams_per_connection = 8;
  std::size_t max_inflight_bytes = 256u << 20;
};

class Admission {
 public:
  explicit Admission(AdmissionLimits limits) : limits_(limits) {}

  // Counts a new stream of connection `peer`, or says which limit refuses it.
  std::optional<Refusal> open_stream(const std::string& peer);
  void close_stream(const std::string& peer);
  std::size_t open_streams() const;

  // Bytes held for records in flight to Kafka.
  void hold(std::size_t bytes);
  void release(std::size_t bytes);
  std::size_t held() const;
  // Room under hub.max_inflight_bytes now (a hint: room_or_wait decides).
  bool room() const {
    return held_bytes_.load(std::memory_order_relaxed) < limits_.max_inflight_bytes;
  }
  // True when there is room now (and `other_full` is false: the caller's own hub-wide bound, e.g.
  // records in flight); else `wake` is called once from a later release(), oldest waiter first
  // (check again then).
  // `wake` returns false when its stream is gone (the next waiter is woken instead).
  bool room_or_wait(bool other_full, std::function<bool()> wake);

 private:
  AdmissionLimits limits_;
  mutable std::mutex mu_;
  std::size_t streams_ = 0;
  std::unordered_map<std::string, std::size_t> per_peer_;
  std::size_t held_ = 0;
  std::atomic<std::size_t> held_bytes_{0};     // held_, readable without the lock
  std::deque<std::function<bool()>> waiters_;  // oldest first
};

}  // namespace edgesync::hub
