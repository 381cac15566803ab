#include "sync_service.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "ack_tracker.hpp"

namespace edgesync::hub {
namespace {

using AgentStream = grpc::ServerReaderWriter<v1::HubMessage, v1::AgentMessage>;

grpc::Status reject(HubCounters& c, grpc::StatusCode code, const std::string& msg,
                    const grpc::ServerContext* ctx) {
  c.streams_rejected.fetch_add(1);
  spdlog::warn("hub: rejected stream from {}: {}", ctx->peer(), msg);
  return grpc::Status(code, msg);
}

// Sends cumulative acks as delivery reports make progress. Runs beside the reading thread
// (gRPC allows one reader and one writer at a time on a stream).
void ack_writer(AgentStream* stream, AckTracker& tracker, HubCounters& counters,
                const std::atomic<bool>& draining, grpc::ServerContext* ctx) {
  std::uint64_t sent = tracker.durable_through();
  std::uint64_t sent_batch = 0;
  for (;;) {
    auto [through, batch] = tracker.wait_progress(sent, sent_batch, std::chrono::milliseconds(200));
    if (through > sent || batch > sent_batch) {
      v1::HubMessage m;
      m.mutable_ack()->set_acked_through(through);
      m.mutable_ack()->set_batch_id(batch);
      if (!stream->Write(m)) return;
      counters.acks_sent.fetch_add(1, std::memory_order_relaxed);
      sent = through;
      sent_batch = batch;
    }
    if (tracker.failed()) return;
    if (draining.load() && tracker.pending() == 0) {
      ctx->TryCancel();  // all acked: end the stream so the agent moves to another replica
      return;
    }
    if (tracker.closed() && tracker.pending() == 0 && tracker.durable_through() <= sent) return;
  }
}

}  // namespace

SyncService::SyncService(const HubConfig& cfg, Sink& sink) : cfg_(cfg), sink_(sink) {}

grpc::Status SyncService::authenticate(grpc::ServerContext*, const v1::Hello& hello) {
  if (hello.agent_id().empty() || hello.agent_id().size() > 128) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hello.agent_id must be 1-128 bytes");
  }
  return grpc::Status::OK;
}

grpc::Status SyncService::Stream(grpc::ServerContext* ctx, AgentStream* stream) {
  if (draining_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "hub is shutting down");
  v1::AgentMessage in;
  if (!stream->Read(&in)) return grpc::Status(grpc::StatusCode::CANCELLED, "no hello");
  if (!in.has_hello()) {
    return reject(counters_, grpc::StatusCode::INVALID_ARGUMENT,
                  "first message must be a hello", ctx);
  }
  const v1::Hello hello = in.hello();
  if (auto st = authenticate(ctx, hello); !st.ok()) {
    return reject(counters_, st.error_code(), st.error_message(), ctx);
  }
  const std::string agent = hello.agent_id();
  std::uint64_t durable = 0;
  if (registry_.claim(agent, hello.epoch(), ctx, &durable) == AgentRegistry::Claim::kStaleEpoch) {
    return reject(counters_, grpc::StatusCode::FAILED_PRECONDITION,
                  "agent '" + agent + "' epoch " + std::to_string(hello.epoch()) +
                      " is older than a session already seen (zombie stream)", ctx);
  }
  counters_.streams_opened.fetch_add(1);
  spdlog::info("hub: agent '{}' connected from {} (epoch {}, first unacked {}, next seq {}, "
               "known durable through {})", agent, ctx->peer(), hello.epoch(),
               hello.first_unacked_seq(), hello.next_seq(), durable);

  v1::HubMessage welcome;
  welcome.mutable_welcome()->set_hub_id(cfg_.hub_id);
  welcome.mutable_welcome()->set_durable_through(durable);
  welcome.mutable_welcome()->set_max_batch_records(static_cast<std::uint32_t>(cfg_.max_batch_records));
  welcome.mutable_welcome()->set_max_batch_bytes(static_cast<std::uint32_t>(cfg_.max_batch_bytes));
  if (!stream->Write(welcome)) {
    registry_.release(agent, ctx);
    return grpc::Status(grpc::StatusCode::CANCELLED, "agent went away");
  }

  auto tracker = std::make_shared<AckTracker>(
      durable, [this, agent](std::uint64_t through) { registry_.update_durable(agent, through); });
  std::thread acker(
      [&] { ack_writer(stream, *tracker, counters_, draining_, ctx); });

  grpc::Status result = grpc::Status::OK;
  std::uint64_t last_seq = durable;
  std::string why;
  while (!draining_ && stream->Read(&in)) {
    if (!in.has_batch()) {
      result = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "expected a batch after hello");
      break;
    }
    const auto& batch = in.batch();
    if (static_cast<std::size_t>(batch.records_size()) > cfg_.max_batch_records) {
      result = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "batch of " + std::to_string(batch.records_size()) +
                                " records exceeds hub.max_batch_records");
      break;
    }
    for (const auto& r : batch.records()) {
      if (r.seq() <= last_seq) {
        // Already durable (known from an earlier session or this one): ack, do not rewrite.
        counters_.records_duplicate.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      while (!tracker->wait_room(cfg_.max_inflight_records, std::chrono::milliseconds(200))) {
        if (ctx->IsCancelled() || tracker->failed()) break;
      }
      if (ctx->IsCancelled() || tracker->failed(&why)) break;
      tracker->add(r.seq());
      const SinkRecord rec{agent, r.seq(), r.device_id(), r.mqtt_topic(), r.payload(),
                           r.received_unix_ns()};
      std::string err;
      ProduceStatus ps;
      while ((ps = sink_.produce(rec, tracker, &err)) == ProduceStatus::kQueueFull) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        if (ctx->IsCancelled()) break;
      }
      if (ps != ProduceStatus::kQueued) {
        tracker->on_delivery(r.seq(), false, err.empty() ? "cancelled" : err);
        break;
      }
      last_seq = r.seq();
      counters_.records_in.fetch_add(1, std::memory_order_relaxed);
    }
    if (tracker->failed(&why)) {
      counters_.delivery_failures.fetch_add(1);
      result = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            why + "; records after the last ack are not acked, resend them");
      break;
    }
    if (ctx->IsCancelled()) break;
    if (batch.records_size() > 0) tracker->end_batch(batch.batch_id(), last_seq);
  }
  // Let what is in flight finish so its ack can still go out (bounded by the grace period).
  const auto deadline = std::chrono::steady_clock::now() + cfg_.shutdown_grace;
  while (!ctx->IsCancelled() && !tracker->failed() && tracker->pending() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    tracker->wait_room(1, std::chrono::milliseconds(100));
  }
  tracker->close();
  acker.join();
  registry_.release(agent, ctx);
  spdlog::info("hub: agent '{}' stream ended (durable through {})", agent,
               tracker->durable_through());
  return result;
}

}  // namespace edgesync::hub
