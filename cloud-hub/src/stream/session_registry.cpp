#include "session_registry.hpp"

#include <algorithm>

namespace edgesync::hub {
namespace {

// " on lane 'x'", or nothing for the default lane (the text of agents before 1.4 is unchanged).
std::string on_lane(const std::string& lane) {
  return lane.empty() ? std::string() : " on lane '" + lane + "'";
}

}  // namespace

SessionRegistry::Claim SessionRegistry::claim(const std::string& agent, const std::string& lane,
                                              const std::string& buffer, std::uint64_t epoch,
                                              std::uint64_t next_seq,
                                              const std::shared_ptr<LiveStream>& stream) {
  std::vector<std::shared_ptr<LiveStream>> replaced;
  Claim c;
  {
    std::lock_guard lk(mu_);
    Agent& a = agents_[agent];
    std::vector<std::string> moved_from;  // other lanes the same buffer streams on (half-open)
    for (const auto& [l, live] : a.lanes) {
      auto s = live.stream.lock();
      if (!s || (l != lane && live.buffer != buffer)) continue;  // another lane, another buffer
      if (live.buffer != buffer) {
        c.outcome = Outcome::kDuplicateBuffer;
      } else if (epoch <= live.epoch) {
        c.outcome = Outcome::kNotNewer;
      }
      if (c.outcome != Outcome::kOk) {
        c.live_buffer = live.buffer;
        c.live_lane = l;
        c.live_epoch = live.epoch;
        return c;
      }
      if (l != lane) moved_from.push_back(l);
      replaced.push_back(std::move(s));
    }
    for (const auto& l : moved_from) a.lanes.erase(l);
    a.lanes[lane] = Live{stream, stream.get(), buffer, epoch};
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
  for (auto& r : replaced) r->replaced();  // outside the lock: it may call release()
  return c;
}

void SessionRegistry::release(const std::string& agent, const std::string& lane,
                              const LiveStream* stream) {
  std::lock_guard lk(mu_);
  auto it = agents_.find(agent);
  if (it == agents_.end()) return;
  auto l = it->second.lanes.find(lane);
  if (l != it->second.lanes.end() && l->second.raw == stream) it->second.lanes.erase(l);
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
    for (const auto& [lane, l] : a.lanes) {
      if (auto s = l.stream.lock()) out.push_back(std::move(s));
    }
  }
  return out;
}

std::string SessionRegistry::refusal_message(const Claim& c, const std::string& agent,
                                             const std::string& lane, const std::string& buffer,
                                             std::uint64_t epoch) {
  if (c.outcome == Outcome::kDuplicateBuffer) {
    return "agent '" + agent + "' is already streaming from buffer '" + c.live_buffer + "'" +
           on_lane(lane) + "; this stream's buffer is '" + buffer + "': two buffers " +
           (lane.empty() ? "under one agent id" : "on one lane of one agent id") +
           " (give each gateway its own agent.id)";
  }
  return "a stream of agent '" + agent + "' buffer '" + buffer + "'" + on_lane(c.live_lane) +
         " with epoch " + std::to_string(c.live_epoch) + " >= this hello's " +
         std::to_string(epoch) + " is live (a copied buffer file?)";
}

void SessionRegistry::forget_idle_locked() {
  for (auto it = agents_.begin(); it != agents_.end() && remembered_ > max_remembered_ / 2;) {
    if (it->second.lanes.empty()) {  // a lane is erased when its stream is released
      remembered_ -= it->second.durable.size();
      it = agents_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace edgesync::hub
