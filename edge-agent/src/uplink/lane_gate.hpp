// Priority between the lanes' uplinks: a lane holds its next batch while a lane of higher
// priority is connected and has records to deliver, so after an outage the highest lane drains
// first and a new alert overtakes the backlog of lower lanes (batches already sent stay in flight).
// A higher lane that cannot reach the hub (down, refusing it, before 1.4) holds nobody.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>

namespace edgesync::agent {

class LaneGate {
 public:
  // One slot per lane, rank 0 = highest priority.
  explicit LaneGate(std::size_t lanes) : busy_(lanes) {}
  void set_busy(std::size_t rank, bool busy) {
    if (rank < busy_.size()) busy_[rank].store(busy, std::memory_order_relaxed);
  }
  bool higher_busy(std::size_t rank) const {
    for (std::size_t i = 0; i < rank && i < busy_.size(); ++i) {
      if (busy_[i].load(std::memory_order_relaxed)) return true;
    }
    return false;
  }

 private:
  std::deque<std::atomic<bool>> busy_;  // deque: atomics neither move nor copy
};

}  // namespace edgesync::agent
