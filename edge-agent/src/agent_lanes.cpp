#include "agent_lanes.hpp"

#include <spdlog/spdlog.h>

namespace edgesync::agent {

AgentLanes::AgentLanes(const AgentConfig& cfg, const std::function<void()>& on_failure)
    : gate_(cfg.lanes.size() + 1), bucket_(cfg.uplink.max_bytes_per_s) {
  std::vector<LaneRouter::Route> routes;
  for (const auto& l : cfg.lanes) {
    auto opts = l.buffer;
    opts.on_failure = on_failure;
    lanes_.push_back({l.name, std::make_unique<SqliteBuffer>(opts), nullptr});
    routes.push_back({l.topics, lanes_.back().buffer.get()});
    std::string filters;
    for (const auto& t : l.topics) filters += (filters.empty() ? "" : ",") + t;
    spdlog::info("edge-agent: lane '{}' (priority {}) buffers {} in {}", l.name, l.priority,
                 filters, opts.path);
  }
  auto opts = cfg.buffer;
  opts.on_failure = on_failure;
  lanes_.push_back({"", std::make_unique<SqliteBuffer>(opts), nullptr});
  if (!cfg.lanes.empty()) {
    router_ = std::make_unique<LaneRouter>(std::move(routes), *lanes_.back().buffer);
  }
}

BufferWriter& AgentLanes::writer() {
  if (router_) return *router_;
  return *default_lane().buffer;
}

void AgentLanes::make_uplinks(const AgentConfig& cfg,
                              const std::function<void(std::uint64_t)>& on_limit) {
  const bool several = lanes_.size() > 1;
  for (std::size_t rank = 0; rank < lanes_.size(); ++rank) {
    auto& l = lanes_[rank];
    l.uplink = std::make_unique<Uplink>(
        cfg.uplink, cfg.agent_id, *l.buffer, on_limit,
        UplinkLane{l.name, rank, several ? &gate_ : nullptr, several ? &bucket_ : nullptr});
  }
}

void AgentLanes::start_uplinks() {
  for (auto& l : lanes_) l.uplink->start();
}

void AgentLanes::stop_uplinks(std::chrono::milliseconds grace) {
  for (auto& l : lanes_) {
    if (l.uplink) l.uplink->stop(grace);
  }
}

void AgentLanes::stop_buffers() {
  for (auto& l : lanes_) l.buffer->stop();
}

}  // namespace edgesync::agent
