// The hub's gRPC service: admission before anything is read (draining, authentication from the
// call's metadata and certificate, hub-wide and per-connection stream caps), then one
// StreamReactor per stream. Streams run on gRPC's callback threads: the hub's thread count does
// not depend on the number of agents (docs/cloud-hub.md, "Threading model").
#pragma once

#include <atomic>
#include <memory>

#include "admission.hpp"
#include "auth.hpp"
#include "edgesync/v1/sync.grpc.pb.h"
#include "hub_config.hpp"
#include "hub_metrics.hpp"
#include "rate_limiter.hpp"
#include "refusal.hpp"
#include "session_registry.hpp"
#include "sink/sink.hpp"
#include "stream_reactor.hpp"
#include "timers.hpp"

namespace edgesync::hub {

class SyncService final : public v1::Sync::WithRawCallbackMethod_Stream<v1::Sync::Service> {
 public:
  // `metrics` may be null (the service then keeps its own, unexported); it must outlive us.
  SyncService(const HubConfig& cfg, Sink& sink, HubMetrics* metrics = nullptr);

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Stream(
      grpc::CallbackServerContext* ctx) override;

  // Graceful shutdown, step 1: refuse new streams, stop reading batches, let in-flight records
  // finish and be acked, then end each stream (agents reconnect elsewhere).
  void begin_drain();
  bool draining() const { return draining_.load(); }
  std::size_t open_streams() const { return admission_.open_streams(); }

 private:
  // Every hub.slow_down_ms while Kafka looks unreachable: SlowDown to the streams waiting for it
  // (one hub-wide timer, not one per stream).
  void watch_kafka();
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* refuse(Refusal r,
                                                                      const std::string& peer,
                                                                      const std::string& message);

  const HubConfig& cfg_;
  Sink& sink_;
  std::unique_ptr<HubMetrics> own_metrics_;
  HubMetrics& metrics_;
  Authenticator auth_;
  AgentRateLimiter limiter_;
  SessionRegistry registry_;
  Admission admission_;
  RefusalLog refusal_log_;
  std::atomic<bool> draining_{false};
  Timers timers_;  // after everything its callbacks reach
  StreamDeps deps_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for the watch timer
  std::uint64_t ownership_changes_seen_ = 0;                    // the watch timer's thread only
};

}  // namespace edgesync::hub
