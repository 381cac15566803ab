#pragma once
#include <chrono>
#include <cstdint>
#include <random>

namespace edgesync {

// Exponential backoff with full jitter (AWS architecture blog): the n-th wait is uniform in
// [0, min(cap, initial * 2^n)], so a fleet reconnecting after an outage spreads out.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds cap, std::uint64_t seed);
  std::chrono::milliseconds next();
  // Upper bound of the wait that next() will draw from (for logs and tests).
  std::chrono::milliseconds ceiling() const;
  void reset() { attempt_ = 0; }

 private:
  std::chrono::milliseconds initial_, cap_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace edgesync
