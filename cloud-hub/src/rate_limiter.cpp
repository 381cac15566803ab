#include "rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace edgesync::hub {

TokenBucket::TokenBucket(double rate_per_s, double burst, Clock::time_point now)
    : rate_(rate_per_s), burst_(std::max(burst, 1.0)), tokens_(burst_), last_(now) {}

std::chrono::milliseconds TokenBucket::take(double n, Clock::time_point now) {
  if (rate_ <= 0) return std::chrono::milliseconds(0);
  if (now > last_) {
    tokens_ =
        std::min(burst_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }
  const double need = std::min(n, burst_);
  if (tokens_ >= need) {
    tokens_ -= n;
    return std::chrono::milliseconds(0);
  }
  const double wait_s = (need - tokens_) / rate_;
  return std::chrono::milliseconds(
      std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait_s * 1000))));
}

std::chrono::milliseconds AgentRateLimiter::admit(const std::string& agent, std::size_t records,
                                                  std::size_t bytes,
                                                  TokenBucket::Clock::time_point now) {
  if (!enabled()) return std::chrono::milliseconds(0);
  std::lock_guard lk(mu_);
  auto it = agents_.find(agent);
  if (it == agents_.end()) {
    it = agents_
             .emplace(agent, Buckets{TokenBucket(limits_.records_per_s,
                                                 limits_.records_per_s * limits_.burst_s, now),
                                     TokenBucket(limits_.bytes_per_s,
                                                 limits_.bytes_per_s * limits_.burst_s, now)})
             .first;
  }
  const auto r = static_cast<double>(records), b = static_cast<double>(bytes);
  const auto wait_records = it->second.records.take(r, now);
  if (wait_records.count() > 0) return wait_records;
  const auto wait_bytes = it->second.bytes.take(b, now);
  if (wait_bytes.count() > 0) {
    if (limits_.records_per_s > 0) it->second.records.give_back(r);
    return wait_bytes;
  }
  return std::chrono::milliseconds(0);
}

}  // namespace edgesync::hub
