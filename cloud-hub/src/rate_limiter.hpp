// Per-agent rate limit (records/s and bytes/s), token buckets. A batch is admitted whole or
// refused with the time after which it would be admitted (the stream then ends with
// RESOURCE_EXHAUSTED and trailing metadata `retry-after-ms`). State is per agent id, so a
// reconnect does not reset it (on this replica).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace edgesync::hub {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  // rate <= 0: unlimited. Starts full; holds at most `burst` tokens.
  TokenBucket(double rate_per_s, double burst, Clock::time_point now);
  // Takes `n` tokens and returns 0 when at least min(n, burst) are available (a request
  // larger than the burst may then run into debt); else takes nothing and returns the wait.
  std::chrono::milliseconds take(double n, Clock::time_point now);
  // Returns the tokens of a refused companion request (so records and bytes stay consistent).
  void give_back(double n) { tokens_ += n; }

 private:
  double rate_, burst_, tokens_;
  Clock::time_point last_;
};

struct RateLimits {
  double records_per_s = 0;  // 0 = unlimited
  double bytes_per_s = 0;    // 0 = unlimited
  double burst_s = 2;        // bucket size in seconds of rate
};

class AgentRateLimiter {
 public:
  explicit AgentRateLimiter(RateLimits limits) : limits_(limits) {}
  bool enabled() const { return limits_.records_per_s > 0 || limits_.bytes_per_s > 0; }
  // 0 when the batch may pass now, else how long the agent should wait.
  std::chrono::milliseconds admit(const std::string& agent, std::size_t records, std::size_t bytes,
                                  TokenBucket::Clock::time_point now = TokenBucket::Clock::now());

 private:
  struct Buckets {
    TokenBucket records, bytes;
  };
  RateLimits limits_;
  std::mutex mu_;
  std::unordered_map<std::string, Buckets> agents_;
};

}  // namespace edgesync::hub
