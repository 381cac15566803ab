#include "edgesync/common/backoff.hpp"

#include <algorithm>

namespace edgesync {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds cap,
                 std::uint64_t seed)
    : initial_(std::max(initial, std::chrono::milliseconds(1))),
      cap_(std::max(cap, initial_)),
      rng_(seed) {}

std::chrono::milliseconds Backoff::ceiling() const {
  const int shift = std::min(attempt_, 30);
  const auto grown = initial_.count() << shift;
  return std::chrono::milliseconds(std::min<std::int64_t>(grown, cap_.count()));
}

std::chrono::milliseconds Backoff::next() {
  const auto top = ceiling();
  ++attempt_;
  std::uniform_int_distribution<std::int64_t> d(0, top.count());
  return std::chrono::milliseconds(d(rng_));
}

}  // namespace edgesync
