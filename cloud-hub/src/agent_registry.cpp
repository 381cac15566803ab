#include "agent_registry.hpp"

#include <grpcpp/server_context.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace edgesync::hub {

AgentRegistry::Claim AgentRegistry::claim(const std::string& agent_id, std::uint64_t epoch,
                                          grpc::ServerContext* ctx, std::uint64_t* durable) {
  std::lock_guard lk(mu_);
  Agent& a = agents_[agent_id];
  if (epoch < a.epoch) return Claim::kStaleEpoch;
  if (a.live != nullptr && a.live != ctx) {
    spdlog::info("hub: agent '{}' opened a new stream (epoch {}); closing its older one", agent_id,
                 epoch);
    a.live->TryCancel();
  }
  a.epoch = epoch;
  a.live = ctx;
  *durable = a.durable_through;
  return Claim::kOk;
}

void AgentRegistry::release(const std::string& agent_id, grpc::ServerContext* ctx) {
  std::lock_guard lk(mu_);
  auto it = agents_.find(agent_id);
  if (it != agents_.end() && it->second.live == ctx) it->second.live = nullptr;
}

void AgentRegistry::update_durable(const std::string& agent_id, std::uint64_t through) {
  std::lock_guard lk(mu_);
  auto& d = agents_[agent_id].durable_through;
  d = std::max(d, through);
}

std::size_t AgentRegistry::live_streams() const {
  std::lock_guard lk(mu_);
  return static_cast<std::size_t>(std::count_if(
      agents_.begin(), agents_.end(), [](const auto& kv) { return kv.second.live != nullptr; }));
}

void AgentRegistry::cancel_all() {
  std::lock_guard lk(mu_);
  for (auto& [id, a] : agents_) {
    if (a.live) a.live->TryCancel();
  }
}

}  // namespace edgesync::hub
