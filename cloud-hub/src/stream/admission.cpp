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
  std::vector<std::function<void()>> wake;
  {
    std::lock_guard lk(mu_);
    held_ -= std::min(held_, bytes);
    held_bytes_.store(held_, std::memory_order_relaxed);
    wake.swap(waiters_);  // each checks its own condition again
  }
  for (auto& w : wake) w();
}

std::size_t Admission::held() const {
  std::lock_guard lk(mu_);
  return held_;
}

bool Admission::room_or_wait(bool other_full, std::function<void()> wake) {
  std::lock_guard lk(mu_);
  if (!other_full && held_ < limits_.max_inflight_bytes) return true;
  waiters_.push_back(std::move(wake));
  return false;
}

}  // namespace edgesync::hub
