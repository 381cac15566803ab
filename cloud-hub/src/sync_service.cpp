#include "sync_service.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "ack_tracker.hpp"

namespace edgesync::hub {
namespace {

using AgentStream = grpc::ServerReaderWriter<v1::HubMessage, v1::AgentMessage>;
using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Why the reading side of a stream is waiting (shared with the ack writer, which turns a long
// wait into a SlowDown message: only one thread may write to a gRPC stream).
enum class Blocked : int { kNo = 0, kStreamInflight, kHubInflight, kProducerQueue };

struct Backpressure {
  std::atomic<std::int64_t> since_ns{0};  // 0 = not blocked
  std::atomic<int> why{0};
  void mark(Blocked b) {
    why.store(static_cast<int>(b));
    std::int64_t zero = 0;
    since_ns.compare_exchange_strong(zero, now_ns());
  }
  void clear() { since_ns.store(0); }
};

const char* blocked_reason(int why) {
  switch (static_cast<Blocked>(why)) {
    case Blocked::kStreamInflight:
      return "Kafka has not confirmed hub.max_inflight_records of this stream";
    case Blocked::kHubInflight:
      return "Kafka has not confirmed hub.max_inflight_records_total records";
    case Blocked::kProducerQueue:
      return "Kafka producer queue full";
    default:
      return "backpressure";
  }
}

struct AckWriter {
  AgentStream* stream;
  AckTracker& tracker;
  HubCounters& counters;
  HubMetrics& metrics;
  const std::atomic<bool>& draining;
  grpc::ServerContext* ctx;
  const Backpressure& bp;
  std::chrono::milliseconds slow_down;
  const Sink& sink;

  // Sends cumulative acks as delivery reports make progress, and SlowDown while the reader is
  // blocked. Runs beside the reading thread (one reader and one writer at a time on a stream).
  void operator()() {
    std::uint64_t sent = tracker.durable_through();
    std::uint64_t sent_batch = 0;
    std::int64_t last_slow_down = 0;
    const std::int64_t slow_ns = std::chrono::nanoseconds(slow_down).count();
    for (;;) {
      auto [through, batch] =
          tracker.wait_progress(sent, sent_batch, std::chrono::milliseconds(100));
      if (through > sent || batch > sent_batch) {
        v1::HubMessage m;
        m.mutable_ack()->set_acked_through(through);
        m.mutable_ack()->set_batch_id(batch);
        if (!stream->Write(m)) return;
        counters.acks_sent.fetch_add(1, std::memory_order_relaxed);
        metrics.ack_sent();
        sent = through;
        sent_batch = batch;
      }
      // Slow down while the reader is blocked, or while Kafka is unreachable and records of this
      // stream wait for it (the agent's own window may stop it before the hub blocks).
      const std::int64_t since = bp.since_ns.load();
      const std::int64_t now = now_ns();
      std::string unhealthy;
      const bool blocked = since != 0 && now - since >= slow_ns;
      if (now - last_slow_down >= slow_ns &&
          (blocked || (tracker.pending() > 0 && !sink.healthy(&unhealthy)))) {
        v1::HubMessage m;
        m.mutable_slow_down()->set_retry_after_ms(static_cast<std::uint32_t>(slow_down.count()));
        m.mutable_slow_down()->set_reason(blocked ? blocked_reason(bp.why.load()) : unhealthy);
        if (!stream->Write(m)) return;
        metrics.slow_down_sent();
        last_slow_down = now;
      }
      if (tracker.failed()) {
        // The reader may be blocked in Read() for a batch the agent will not send (its window
        // is full of unacked batches): end the stream so the agent reconnects and resends.
        for (int i = 0; i < 20 && !tracker.closed(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (!tracker.closed()) ctx->TryCancel();
        return;
      }
      if (draining.load() && tracker.pending() == 0) {
        ctx->TryCancel();  // all acked: end the stream so the agent moves to another replica
        return;
      }
      if (tracker.closed() && tracker.pending() == 0 && tracker.durable_through() <= sent) return;
    }
  }
};

}  // namespace

SyncService::SyncService(const HubConfig& cfg, Sink& sink, HubMetrics* metrics)
    : cfg_(cfg),
      sink_(sink),
      own_metrics_(metrics ? nullptr : std::make_unique<HubMetrics>()),
      metrics_(metrics ? *metrics : *own_metrics_),
      auth_(cfg),
      limiter_(RateLimits{cfg.rate_records_per_s, cfg.rate_bytes_per_s, cfg.rate_burst_s}) {}

grpc::Status SyncService::reject(grpc::StatusCode code, const char* reason, const std::string& msg,
                                 const grpc::ServerContext* ctx) {
  counters_.streams_rejected.fetch_add(1);
  metrics_.stream_rejected(reason);
  spdlog::warn("hub: rejected stream from {}: {}", ctx->peer(), msg);
  return grpc::Status(code, msg);
}

grpc::Status SyncService::authenticate(grpc::ServerContext* ctx, const v1::Hello& hello) {
  if (hello.agent_id().empty() || hello.agent_id().size() > 128) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello.agent_id must be 1-128 bytes");
  }
  return auth_.check(*ctx, hello.agent_id());
}

grpc::Status SyncService::Stream(grpc::ServerContext* ctx, AgentStream* stream) {
  if (draining_) {
    metrics_.stream_rejected("draining");
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "hub is shutting down");
  }
  v1::AgentMessage in;
  if (!stream->Read(&in)) return grpc::Status(grpc::StatusCode::CANCELLED, "no hello");
  if (!in.has_hello()) {
    return reject(grpc::StatusCode::INVALID_ARGUMENT, "bad_hello", "first message must be a hello",
                  ctx);
  }
  const v1::Hello hello = in.hello();
  if (auto st = authenticate(ctx, hello); !st.ok()) {
    const char* reason = st.error_code() == grpc::StatusCode::PERMISSION_DENIED
                             ? "permission_denied"
                         : st.error_code() == grpc::StatusCode::UNAUTHENTICATED ? "unauthenticated"
                                                                                : "bad_hello";
    return reject(st.error_code(), reason, st.error_message(), ctx);
  }
  const std::string agent = hello.agent_id();
  std::uint64_t durable = 0;
  if (registry_->claim(agent, hello.epoch(), ctx, &durable) == AgentRegistry::Claim::kStaleEpoch) {
    return reject(grpc::StatusCode::FAILED_PRECONDITION, "stale_epoch",
                  "agent '" + agent + "' epoch " + std::to_string(hello.epoch()) +
                      " is older than a session already seen (zombie stream)",
                  ctx);
  }
  counters_.streams_opened.fetch_add(1);
  metrics_.stream_opened();
  spdlog::info(
      "hub: agent '{}' connected from {} (epoch {}, first unacked {}, next seq {}, "
      "known durable through {})",
      agent, ctx->peer(), hello.epoch(), hello.first_unacked_seq(), hello.next_seq(), durable);

  v1::HubMessage welcome;
  welcome.mutable_welcome()->set_hub_id(cfg_.hub_id);
  welcome.mutable_welcome()->set_durable_through(durable);
  welcome.mutable_welcome()->set_max_batch_records(
      static_cast<std::uint32_t>(cfg_.max_batch_records));
  welcome.mutable_welcome()->set_max_batch_bytes(static_cast<std::uint32_t>(cfg_.max_batch_bytes));
  if (!stream->Write(welcome)) {
    registry_->release(agent, ctx);
    metrics_.stream_closed();
    return grpc::Status(grpc::StatusCode::CANCELLED, "agent went away");
  }

  auto tracker = std::make_shared<AckTracker>(
      durable,
      [reg = registry_, agent](std::uint64_t through) { reg->update_durable(agent, through); });
  Backpressure bp;
  std::thread acker(
      AckWriter{stream, *tracker, counters_, metrics_, draining_, ctx, bp, cfg_.slow_down, sink_});

  grpc::Status result = grpc::Status::OK;
  std::uint64_t last_seq = durable;
  std::string why;
  // Waits for room under both in-flight bounds; false when the stream must stop instead.
  auto wait_for_room = [&]() {
    for (;;) {
      if (ctx->IsCancelled() || tracker->failed() || draining_) return false;
      if (!tracker->wait_room(cfg_.max_inflight_records, std::chrono::milliseconds(100))) {
        bp.mark(Blocked::kStreamInflight);
      } else if (sink_.in_flight() >= cfg_.max_inflight_records_total) {
        bp.mark(Blocked::kHubInflight);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      } else {
        return true;
      }
    }
  };
  bool stop = false;
  while (!stop && !draining_ && stream->Read(&in)) {
    if (!in.has_batch()) {
      result = reject(grpc::StatusCode::INVALID_ARGUMENT, "protocol",
                      "expected a batch after hello", ctx);
      break;
    }
    const auto& batch = in.batch();
    if (static_cast<std::size_t>(batch.records_size()) > cfg_.max_batch_records) {
      result = reject(grpc::StatusCode::INVALID_ARGUMENT, "batch_too_large",
                      "batch of " + std::to_string(batch.records_size()) +
                          " records exceeds hub.max_batch_records",
                      ctx);
      break;
    }
    if (const auto wait = limiter_.admit(agent, static_cast<std::size_t>(batch.records_size()),
                                         batch.ByteSizeLong());
        wait.count() > 0) {
      // Like HTTP 429: nothing of this batch is taken; the agent resends it after the hint.
      counters_.rate_limited.fetch_add(1);
      metrics_.rate_limited();
      ctx->AddTrailingMetadata("retry-after-ms", std::to_string(wait.count()));
      result = reject(grpc::StatusCode::RESOURCE_EXHAUSTED, "rate_limited",
                      "agent '" + agent + "' is over its rate limit; retry after " +
                          std::to_string(wait.count()) + " ms",
                      ctx);
      break;
    }
    std::uint64_t produced = 0, duplicates = 0;
    for (const auto& r : batch.records()) {
      if (r.seq() <= last_seq) {
        // Already durable (known from an earlier session or this one): ack, do not rewrite.
        ++duplicates;
        continue;
      }
      if (!wait_for_room()) {
        stop = true;
        break;
      }
      tracker->add(r.seq());
      const SinkRecord rec{agent,          r.seq(),     r.device_id(),
                           r.mqtt_topic(), r.payload(), r.received_unix_ns()};
      std::string err;
      ProduceStatus ps;
      while ((ps = sink_.produce(rec, tracker, &err)) == ProduceStatus::kQueueFull) {
        bp.mark(Blocked::kProducerQueue);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (ctx->IsCancelled()) break;
      }
      bp.clear();
      if (ps != ProduceStatus::kQueued) {
        tracker->on_delivery(r.seq(), false, err.empty() ? "cancelled" : err);
        break;
      }
      last_seq = r.seq();
      ++produced;
    }
    bp.clear();
    counters_.records_in.fetch_add(produced, std::memory_order_relaxed);
    counters_.records_duplicate.fetch_add(duplicates, std::memory_order_relaxed);
    metrics_.records_in(produced);
    metrics_.duplicates_skipped(duplicates);
    if (tracker->failed(&why)) {
      counters_.delivery_failures.fetch_add(1);
      metrics_.stream_rejected("kafka_delivery_failed");
      result = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            why + "; records after the last ack are not acked, resend them");
      break;
    }
    if (stop || ctx->IsCancelled()) break;
    if (batch.records_size() > 0) tracker->end_batch(batch.batch_id(), last_seq);
  }
  // Let what is in flight finish so its ack can still go out (bounded by the grace period).
  const auto deadline = Clock::now() + cfg_.shutdown_grace;
  while (!ctx->IsCancelled() && !tracker->failed() && tracker->pending() > 0 &&
         Clock::now() < deadline) {
    tracker->wait_room(1, std::chrono::milliseconds(100));
  }
  tracker->close();
  acker.join();
  registry_->release(agent, ctx);
  metrics_.stream_closed();
  spdlog::info("hub: agent '{}' stream ended (durable through {})", agent,
               tracker->durable_through());
  return result;
}

}  // namespace edgesync::hub
