#include "uplink/ack_path.hpp"

#include <algorithm>

namespace edgesync::agent {

std::uint64_t AckPath::apply(std::uint64_t through) {
  for (auto it = unmoved_.begin(); it != unmoved_.end() && it->first <= through;) {
    if (!buffer_.dead_letter(it->first, it->second)) break;  // logged; retried at the next ack
    counters_.dead_lettered.fetch_add(1, std::memory_order_relaxed);
    it = unmoved_.erase(it);
  }
  // Never past a refused record that is not in the dead-letter table yet: acking would delete it.
  const std::uint64_t cap =
      unmoved_.empty() ? through : std::min(through, unmoved_.begin()->first - 1);
  buffer_.ack_through(cap);
  counters_.acked_through = cap;
  return cap;
}

}  // namespace edgesync::agent
