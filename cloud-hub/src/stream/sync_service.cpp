#include "sync_service.hpp"

namespace edgesync::hub {
namespace {

// Ends a stream that was refused before it cost anything.
class Refused final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit Refused(grpc::Status st) { Finish(std::move(st)); }
  void OnDone() override { delete this; }
};

}  // namespace

SyncService::SyncService(const HubConfig& cfg, Sink& sink, HubMetrics* metrics)
    : cfg_(cfg),
      sink_(sink),
      own_metrics_(metrics ? nullptr : std::make_unique<HubMetrics>()),
      metrics_(metrics ? *metrics : *own_metrics_),
      auth_(cfg),
      limiter_(RateLimits{cfg.rate_records_per_s, cfg.rate_bytes_per_s, cfg.rate_burst_s}),
      registry_(4 * cfg.max_streams),
      admission_(
          AdmissionLimits{cfg.max_streams, cfg.max_streams_per_connection, cfg.max_inflight_bytes}),
      deps_{cfg_,       sink,    metrics_,     registry_, limiter_,
            admission_, timers_, refusal_log_, draining_} {
  watch_kafka();
}

void SyncService::watch_kafka() {
  std::string why;
  if (!sink_.healthy(&why)) {
    for (auto& s : registry_.live()) s->kafka_unhealthy(why);
  }
  if (const auto n = sink_.ownership_changes(); n != ownership_changes_seen_) {
    ownership_changes_seen_ = n;
    for (auto& s : registry_.live()) s->ownership_changed();
  }
  std::weak_ptr<bool> alive = alive_;
  timers_.after(cfg_.slow_down, [this, alive] {
    if (alive.lock()) watch_kafka();
  });
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* SyncService::refuse(
    Refusal r, const std::string& peer, const std::string& message) {
  const auto& info = refusal_info(r);
  metrics_.stream_rejected(info.label);
  refusal_log_.warn(r, peer, "", message);
  return new Refused(grpc::Status(info.code, message));
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* SyncService::Stream(
    grpc::CallbackServerContext* ctx) {
  std::string peer = ctx->peer();
  if (draining_.load()) return refuse(Refusal::kDraining, peer, "hub is shutting down");
  Identity identity;
  if (auto st = auth_.authenticate(*ctx, &identity); !st.ok()) {
    return refuse(Refusal::kUnauthenticated, peer, st.error_message());
  }
  if (auto r = admission_.open_stream(peer)) {
    return refuse(*r, peer,
                  *r == Refusal::kTooManyStreams
                      ? "the hub holds hub.max_streams (" + std::to_string(cfg_.max_streams) +
                            ") streams; retry later or on another replica"
                      : "this connection holds hub.max_streams_per_connection (" +
                            std::to_string(cfg_.max_streams_per_connection) + ") streams");
  }
  return StreamReactor::start(deps_, ctx, std::move(identity), std::move(peer));
}

void SyncService::begin_drain() {
  draining_ = true;
  for (auto& s : registry_.live()) s->drain();
}

}  // namespace edgesync::hub
