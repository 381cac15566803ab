#include "session_registry.hpp"

#include <algorithm>

namespace edgesync::hub {

SessionRegistry::Claim SessionRegistry::claim(const std::string& agent, const std::string& buffer,
                                              std::uint64_t epoch, std::uint64_t next_seq,
                                              const std::shared_ptr<LiveStream>& stream) {
  std::shared_ptr<LiveStream> replaced;
  Claim c;
  {
    std::lock_guard lk(mu_);
    Agent& a = agents_[agent];
    auto live = a.live.lock();
    if (live) {
      if (a.live_buffer != buffer) {
        c.outcome = Outcome::kDuplicateBuffer;
      } else if (epoch <= a.live_epoch) {
        c.outcome = Outcome::kNotNewer;
      }
      if (c.outcome != Outcome::kOk) {
        c.live_buffer = a.live_buffer;
        c.live_epoch = a.live_epoch;
        return c;
      }
      replaced = std::move(live);
    }
    a.live = stream;
    a.live_raw = stream.get();
    a.live_buffer = buffer;
    a.live_epoch = epoch;
    auto [it, inserted] = a.durable.try_emplace(buffer, 0);
    if (inserted && ++remembered_ > max_remembered_) forget_idle_locked();
    if (it->second >= next_seq) {
      // The buffer says its next seq is at or below what we saw confirmed: it was reset (a new
      // file under an old id, or a crafted earlier session). Never skip its records.
      it->second = 0;
      c.watermark_reset = true;
    }
    c.durable_through = it->second;
  }
  if (replaced) replaced->replaced();  // outside the lock: it may call release()
  return c;
}

void SessionRegistry::release(const std::string& agent, const LiveStream* stream) {
  std::lock_guard lk(mu_);
  auto it = agents_.find(agent);
  if (it != agents_.end() && it->second.live_raw == stream) {
    it->second.live.reset();
    it->second.live_raw = nullptr;
  }
}

void SessionRegistry::update_durable(const std::string& agent, const std::string& buffer,
                                     std::uint64_t through) {
  std::lock_guard lk(mu_);
  auto it = agents_.find(agent);
  if (it == agents_.end()) return;  // forgotten meanwhile: costs duplicates only
  auto d = it->second.durable.find(buffer);
  if (d != it->second.durable.end()) d->second = std::max(d->second, through);
}

std::vector<std::shared_ptr<LiveStream>> SessionRegistry::live() const {
  std::vector<std::shared_ptr<LiveStream>> out;
  std::lock_guard lk(mu_);
  for (const auto& [id, a] : agents_) {
    if (auto s = a.live.lock()) out.push_back(std::move(s));
  }
  return out;
}

void SessionRegistry::forget_idle_locked() {
  for (auto it = agents_.begin(); it != agents_.end() && remembered_ > max_remembered_ / 2;) {
    if (it->second.live_raw == nullptr) {
      remembered_ -= it->second.durable.size();
      it = agents_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace edgesync::hub
