// The uplink's bandwidth cap (`uplink.max_bytes_per_s`): a token bucket one second deep. A
// message is paid for in full when it is taken (the bucket may go into debt), and the caller
// waits until the debt is paid before writing it: the long-run rate is the cap, a single burst
// at most one second's worth, and a message larger than the bucket is still sent (it waits).
// One bucket is shared by the uplinks of all lanes (thread-safe); the lane gate decides who
// takes from it first.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace edgesync::agent {

class ByteBucket {
 public:
  using Clock = std::chrono::steady_clock;

  // rate 0 = unlimited (take() always answers 0).
  explicit ByteBucket(std::uint64_t bytes_per_s, Clock::time_point now = Clock::now())
      : rate_(static_cast<double>(bytes_per_s)), tokens_(rate_), last_(now) {}

  // Pays for `bytes`; returns how long to wait before writing them.
  std::chrono::nanoseconds take(std::uint64_t bytes, Clock::time_point now = Clock::now()) {
    if (rate_ <= 0) return std::chrono::nanoseconds(0);
    std::lock_guard lk(mu_);
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = std::max(last_, now);
    tokens_ = std::min(rate_, tokens_ + std::max(0.0, elapsed) * rate_);
    tokens_ -= static_cast<double>(bytes);
    if (tokens_ >= 0) return std::chrono::nanoseconds(0);
    return std::chrono::nanoseconds(static_cast<std::int64_t>(-tokens_ / rate_ * 1e9));
  }

 private:
  std::mutex mu_;
  double rate_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace edgesync::agent
