// gRPC side of the hub: agent identity, limits, per-agent ordering, dedup, acks in order.
// Never talks to Kafka directly: records go to a Sink, delivery results come back through an
// AckTracker per stream.
#pragma once

#include <atomic>

#include "agent_registry.hpp"
#include "edgesync/v1/sync.grpc.pb.h"
#include "hub_config.hpp"
#include "sink.hpp"

namespace edgesync::hub {

struct HubCounters {
  std::atomic<std::uint64_t> streams_opened{0};
  std::atomic<std::uint64_t> streams_rejected{0};
  std::atomic<std::uint64_t> records_in{0};
  std::atomic<std::uint64_t> records_duplicate{0};
  std::atomic<std::uint64_t> acks_sent{0};
  std::atomic<std::uint64_t> delivery_failures{0};
};

class SyncService final : public v1::Sync::Service {
 public:
  SyncService(const HubConfig& cfg, Sink& sink);

  grpc::Status Stream(grpc::ServerContext* ctx,
                      grpc::ServerReaderWriter<v1::HubMessage, v1::AgentMessage>* stream) override;

  // Graceful shutdown, step 1: stop taking batches, let in-flight records finish and be acked,
  // then end each stream (agents reconnect elsewhere).
  void begin_drain() { draining_ = true; }
  AgentRegistry& registry() { return registry_; }
  const HubCounters& counters() const { return counters_; }

 private:
  grpc::Status authenticate(grpc::ServerContext* ctx, const v1::Hello& hello);

  const HubConfig& cfg_;
  Sink& sink_;
  AgentRegistry registry_;
  HubCounters counters_;
  std::atomic<bool> draining_{false};
};

}  // namespace edgesync::hub
