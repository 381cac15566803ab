// gRPC side of the hub: agent identity, limits, per-agent ordering, dedup, acks in order.
// Never talks to Kafka directly: records go to a Sink, delivery results come back through an
// AckTracker per stream.
#pragma once

#include <atomic>
#include <memory>

#include "agent_registry.hpp"
#include "auth.hpp"
#include "edgesync/v1/sync.grpc.pb.h"
#include "hub_config.hpp"
#include "hub_metrics.hpp"
#include "rate_limiter.hpp"
#include "sink.hpp"

namespace edgesync::hub {

struct HubCounters {
  std::atomic<std::uint64_t> streams_opened{0};
  std::atomic<std::uint64_t> streams_rejected{0};
  std::atomic<std::uint64_t> records_in{0};
  std::atomic<std::uint64_t> records_duplicate{0};
  std::atomic<std::uint64_t> acks_sent{0};
  std::atomic<std::uint64_t> delivery_failures{0};
  std::atomic<std::uint64_t> rate_limited{0};
};

class SyncService final : public v1::Sync::Service {
 public:
  // `metrics` may be null (the service then keeps its own, unexported); it must outlive us.
  SyncService(const HubConfig& cfg, Sink& sink, HubMetrics* metrics = nullptr);

  grpc::Status Stream(grpc::ServerContext* ctx,
                      grpc::ServerReaderWriter<v1::HubMessage, v1::AgentMessage>* stream) override;

  // Graceful shutdown, step 1: stop taking batches, let in-flight records finish and be acked,
  // then end each stream (agents reconnect elsewhere).
  void begin_drain() { draining_ = true; }
  bool draining() const { return draining_.load(); }
  AgentRegistry& registry() { return *registry_; }
  const HubCounters& counters() const { return counters_; }

 private:
  grpc::Status authenticate(grpc::ServerContext* ctx, const v1::Hello& hello);
  grpc::Status reject(grpc::StatusCode code, const char* reason, const std::string& msg,
                      const grpc::ServerContext* ctx);

  const HubConfig& cfg_;
  Sink& sink_;
  std::unique_ptr<HubMetrics> own_metrics_;
  HubMetrics& metrics_;
  Authenticator auth_;
  AgentRateLimiter limiter_;
  // Shared with the per-stream ack trackers: a delivery report may arrive after the service is
  // gone (the sink outlives it and reports purged records at shutdown).
  std::shared_ptr<AgentRegistry> registry_ = std::make_shared<AgentRegistry>();
  HubCounters counters_;
  std::atomic<bool> draining_{false};
};

}  // namespace edgesync::hub
