#include "ack_tracker.hpp"

namespace edgesync::hub {

std::uint64_t AckTracker::add_batch(std::uint64_t batch_id, std::uint64_t last_seq,
                                    std::size_t unresolved) {
  batches_.push_back({batch_id, last_seq, unresolved});
  unresolved_ += unresolved;
  const std::uint64_t ordinal = front_ordinal_ + batches_.size() - 1;
  advance();
  return ordinal;
}

bool AckTracker::resolve(std::uint64_t ordinal) {
  if (ordinal < front_ordinal_ || ordinal - front_ordinal_ >= batches_.size()) return false;
  Batch& b = batches_[static_cast<std::size_t>(ordinal - front_ordinal_)];
  if (b.unresolved == 0) return false;
  --b.unresolved;
  --unresolved_;
  return advance();
}

bool AckTracker::advance() {
  bool moved = false;
  while (!batches_.empty() && batches_.front().unresolved == 0) {
    if (batches_.front().last_seq > durable_) durable_ = batches_.front().last_seq;
    acked_batch_ = batches_.front().batch_id;
    batches_.pop_front();
    ++front_ordinal_;
    moved = true;
  }
  return moved;
}

}  // namespace edgesync::hub
