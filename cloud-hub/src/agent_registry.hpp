// Hub-wide, in-process knowledge about agents: which stream is live for an agent (one at a time,
// newest epoch wins) and the highest seq known durable in Kafka (for duplicate suppression after
// a reconnect to the same replica). Losing it (restart, another replica) costs only duplicates.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace grpc {
class ServerContext;
}

namespace edgesync::hub {

class AgentRegistry {
 public:
  enum class Claim { kOk, kStaleEpoch };
  // Registers `ctx` as the live stream of `agent_id`; cancels an older live stream of the same
  // agent. A hello whose epoch is lower than one already seen is refused (zombie session).
  Claim claim(const std::string& agent_id, std::uint64_t epoch, grpc::ServerContext* ctx,
              std::uint64_t* durable_through);
  void release(const std::string& agent_id, grpc::ServerContext* ctx);
  void update_durable(const std::string& agent_id, std::uint64_t through);
  std::size_t live_streams() const;
  // Cancels every live stream (used at the end of a graceful shutdown).
  void cancel_all();

 private:
  struct Agent {
    std::uint64_t epoch = 0;
    std::uint64_t durable_through = 0;
    grpc::ServerContext* live = nullptr;
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Agent> agents_;
};

}  // namespace edgesync::hub
