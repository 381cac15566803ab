#include "ack_tracker.hpp"

#include <algorithm>

namespace edgesync::hub {

AckTracker::AckTracker(std::uint64_t durable_through, std::function<void(std::uint64_t)> on_durable)
    : durable_(durable_through), last_added_(durable_through), on_durable_(std::move(on_durable)) {}

void AckTracker::add(std::uint64_t seq) {
  std::lock_guard lk(mu_);
  entries_.push_back({seq, false});
  last_added_ = seq;
}

void AckTracker::end_batch(std::uint64_t batch_id, std::uint64_t last_seq) {
  std::uint64_t advanced = 0;
  {
    std::lock_guard lk(mu_);
    batches_.emplace_back(batch_id, last_seq);
    const auto before = durable_;
    advance_locked();  // a batch of only duplicates is durable at once
    if (durable_ != before || acked_batch_ == batch_id) advanced = durable_;
  }
  cv_.notify_all();
  if (advanced && on_durable_) on_durable_(advanced);
}

void AckTracker::advance_locked() {
  if (failed_) return;
  while (!entries_.empty() && entries_.front().done) {
    durable_ = entries_.front().seq;
    entries_.pop_front();
  }
  if (entries_.empty()) durable_ = std::max(durable_, last_added_);
  while (!batches_.empty() && batches_.front().second <= durable_) {
    acked_batch_ = batches_.front().first;
    batches_.pop_front();
  }
}

void AckTracker::on_delivery(std::uint64_t seq, bool ok, std::string_view error) {
  // Called once per record from the sink's thread. Waking the ack writer (and the registry) only
  // when a whole batch became durable keeps it to one ack per batch: the agent deletes and
  // counts its window by batch anyway. Profiling showed one wake-up and one ack per few records.
  std::uint64_t advanced = 0;
  bool wake = false;
  {
    std::lock_guard lk(mu_);
    if (!ok) {
      if (!failed_) {
        failed_ = true;
        failure_ =
            "Kafka delivery of seq " + std::to_string(seq) + " failed: " + std::string(error);
        wake = true;
      }
    } else {
      auto it = std::lower_bound(entries_.begin(), entries_.end(), seq,
                                 [](const Entry& e, std::uint64_t s) { return e.seq < s; });
      if (it != entries_.end() && it->seq == seq) it->done = true;
      const auto before = durable_;
      const auto before_batch = acked_batch_;
      advance_locked();
      if (acked_batch_ != before_batch) {
        advanced = durable_;
        wake = true;
      } else if (durable_ != before && room_waiters_ > 0) {
        wake = true;
      }
    }
  }
  if (wake) cv_.notify_all();
  if (advanced && on_durable_) on_durable_(advanced);
}

std::uint64_t AckTracker::durable_through() const {
  std::lock_guard lk(mu_);
  return durable_;
}

std::size_t AckTracker::pending() const {
  std::lock_guard lk(mu_);
  return static_cast<std::size_t>(
      std::count_if(entries_.begin(), entries_.end(), [](const Entry& e) { return !e.done; }));
}

bool AckTracker::failed(std::string* why) const {
  std::lock_guard lk(mu_);
  if (failed_ && why) *why = failure_;
  return failed_;
}

std::pair<std::uint64_t, std::uint64_t> AckTracker::wait_progress(
    std::uint64_t seen, std::uint64_t seen_batch, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, timeout,
               [&] { return durable_ > seen || acked_batch_ > seen_batch || failed_ || closed_; });
  return {durable_, acked_batch_};
}

bool AckTracker::wait_room(std::size_t limit, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  // entries_ holds only records above the watermark: a cheap upper bound of pending().
  if (entries_.size() < limit) return true;
  ++room_waiters_;
  const bool room = cv_.wait_for(lk, timeout, [&] {
    return entries_.size() < limit || failed_ || closed_;
  }) && entries_.size() < limit;
  --room_waiters_;
  return room;
}

void AckTracker::close() {
  {
    std::lock_guard lk(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool AckTracker::closed() const {
  std::lock_guard lk(mu_);
  return closed_;
}

}  // namespace edgesync::hub
