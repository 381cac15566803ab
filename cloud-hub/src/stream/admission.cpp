#include "admission.hpp"

#include <algorithm>

namespace edgesync::hub {

std::optional<Refusal> Admission::open_stream(const std::string& peer) {
  std::lock_guard lk(mu_);
  if (streams_ >= limits_.max_streams) return Refusal::kTooManyStreams;
  auto& n = per_peer_[peer];
  if (n >= limits_.max_streams_per_connection) return Refusal::kTooManyStreamsOnConnection;
  ++n;
  ++streams_;
  return std::nullopt;
}

void Admission::close_stream(const std::string& peer) {
  std::lock_guard lk(mu_);
  auto it = per_peer_.find(peer);
  if (it != per_peer_.end() && --it->second == 0) per_peer_.erase(it);
  --streams_;
}

std::size_t Admission::open_streams() const {
  std::lock_guard lk(mu_);
  return streams_;
}

void Admission::hold(std::size_t bytes) {
  std::lock_guard lk(mu_);
  held_ += bytes;
  held_bytes_.store(held_, std::memory_order_relaxed);
}

void Admission::release(std::size_t bytes) {
  // A batch confirmed frees about one batch of room: wake the two streams that waited longest,
  // not all of them (with thousands waiting, waking all per release made the hub's CPU per record
  // grow with the number of streams). Each checks its own condition again and waits again if
  // there is still no room.
  {
    std::lock_guard lk(mu_);
    held_ -= std::min(held_, bytes);
    held_bytes_.store(held_, std::memory_order_relaxed);
  }
  for (int woken = 0; woken < 2;) {
    std::function<bool()> w;
    {
      std::lock_guard lk(mu_);
      if (waiters_.empty()) return;
      w = std::move(waiters_.front());
      waiters_.pop_front();
    }
    if (w()) ++woken;  // a stream that ended meanwhile does not count
  }
}

std::size_t Admission::held() const {
  std::lock_guard lk(mu_);
  return held_;
}

bool Admission::room_or_wait(bool other_full, std::function<bool()> wake) {
  std::lock_guard lk(mu_);
  if (!other_full && held_ < limits_.max_inflight_bytes) return true;
  waiters_.push_back(std::move(wake));
  return false;
}

}  // namespace edgesync::hub
