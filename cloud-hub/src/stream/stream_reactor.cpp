#include "stream_reactor.hpp"

#include <grpcpp/support/proto_buffer_reader.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "batch_codec.hpp"
#include "edgesync/common/text.hpp"
#include "inflight_batch.hpp"

namespace edgesync::hub {
namespace {

using Clock = std::chrono::steady_clock;

// How long a finishing stream may wait for its last write before it is cancelled (a client that
// stopped reading must not hold a stream for ever).
constexpr auto kFinishWriteGrace = std::chrono::seconds(5);
// A hello that met a rebalance: the agent retries after this (a rebalance takes about a second).
constexpr int kRebalancingRetryMs = 1000;

}  // namespace

StreamReactor* StreamReactor::start(StreamDeps& deps, grpc::CallbackServerContext* ctx,
                                    Identity identity, std::string peer) {
  auto r = std::make_shared<StreamReactor>(deps, ctx, std::move(identity), std::move(peer));
  r->self_ = r;
  {
    std::lock_guard lk(r->mu_);
    r->reading_ = true;
    r->StartRead(&r->in_);
  }
  std::weak_ptr<StreamReactor> weak = r;
  deps.timers.after(deps.cfg.hello_timeout, [weak, ms = deps.cfg.hello_timeout.count()] {
    if (auto s = weak.lock()) {
      std::lock_guard lk(s->mu_);
      if (!s->hello_seen_ && !s->finished_) {
        s->refuse_locked(Refusal::kHelloTimeout,
                         "no hello within " + std::to_string(ms) + " ms (hub.hello_timeout_ms)");
      }
    }
  });
  return r.get();
}

StreamReactor::StreamReactor(StreamDeps& deps, grpc::CallbackServerContext* ctx, Identity identity,
                             std::string peer)
    : deps_(deps), ctx_(ctx), identity_(std::move(identity)), peer_(std::move(peer)) {
  deps_.metrics.stream_admitted();
}

StreamReactor::~StreamReactor() = default;

std::string StreamReactor::agent_for_log() const {
  return agent_.empty() ? std::string("?") : printable(agent_);
}

std::string StreamReactor::lane_for_log() const {
  return lane_.empty() ? std::string() : " lane '" + lane_ + "'";
}

void StreamReactor::OnReadDone(bool ok) {
  std::unique_lock lk(mu_);
  reading_ = false;
  if (!ok) {
    read_closed_ = true;
    if (!hello_seen_) {
      finish_locked(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed before the hello"));
    } else {
      maybe_finish_drained_locked();
      if (!finish_wanted_) {
        // The agent half-closed with records in flight: ack them if Kafka confirms in time.
        std::weak_ptr<StreamReactor> weak = shared_from_this();
        deps_.timers.after(deps_.cfg.shutdown_grace, [weak] {
          if (auto s = weak.lock()) {
            std::lock_guard l(s->mu_);
            s->finish_locked(grpc::Status::OK);
          }
        });
      }
    }
    return;
  }
  if (finish_wanted_) return;
  const std::size_t bytes = in_.Length();
  // One arena block holds the parsed batch (strings included) in the common case.
  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = std::max<std::size_t>(1024, bytes + bytes / 2 + 512);
  arena_options.max_block_size = std::max<std::size_t>(arena_options.start_block_size, 64 << 10);
  auto arena = std::make_unique<google::protobuf::Arena>(arena_options);
  auto* msg = google::protobuf::Arena::CreateMessage<v1::AgentMessage>(arena.get());
  bool parsed;
  {
    grpc::ProtoBufferReader reader(&in_);
    parsed = msg->ParseFromZeroCopyStream(&reader);
  }
  in_.Clear();
  if (!parsed) {
    refuse_locked(Refusal::kMalformed, "a message of " + std::to_string(bytes) +
                                           " bytes is not a valid AgentMessage (truncated or not "
                                           "protobuf)");
    return;
  }
  if (!hello_seen_) {
    if (!msg->has_hello()) {
      refuse_locked(Refusal::kBadHello, "the first message must be a hello");
      return;
    }
    handle_hello(msg->hello());
    return;
  }
  const bool packed =
      msg->has_packed_batch() &&  // only when the welcome listed FEATURE_PACKED_ZSTD
      std::ranges::count(features_, v1::FEATURE_PACKED_ZSTD) > 0;
  if (!msg->has_batch() && !packed) {
    refuse_locked(Refusal::kMalformed, "expected a batch after the hello");
    return;
  }
  lk.unlock();
  std::size_t unpacked = 0;  // a packed batch is held twice: packed and decoded (admission)
  if (packed) {  // decoded outside the lock (delivery reports need it), then on as a Batch
    auto* m = google::protobuf::Arena::CreateMessage<v1::AgentMessage>(arena.get());
    const PackedLimits limits{deps_.cfg.max_batch_records, deps_.cfg.max_batch_bytes};
    if (auto v = decode_packed_batch(msg->packed_batch(), limits, decode_scratch(),
                                     *m->mutable_batch())) {
      std::lock_guard g(mu_);
      refuse_locked(Refusal::kInvalidBatch, "agent '" + agent_ + "': " + v->field + " " + v->what +
                                                "; nothing of this batch is acked");
      return;
    }
    unpacked = static_cast<std::size_t>(msg->packed_batch().raw_size());
    msg = m;
  }
  handle_batch(std::move(arena), msg, bytes + unpacked);
}

void StreamReactor::handle_hello(const v1::Hello& h) {
  agent_ = h.agent_id();  // as claimed: logs escape it
  if (auto v = check_hello(h)) {
    refuse_locked(Refusal::kBadHello, v->field + " " + v->what);
    return;
  }
  buffer_ = h.buffer_id();
  lane_ = h.lane();
  if (auto st = identity_.permits(agent_); !st.ok()) {
    refuse_locked(Refusal::kPermissionDenied, st.error_message());
    return;
  }
  if (deps_.draining.load()) {
    refuse_locked(Refusal::kDraining, "hub is shutting down");
    return;
  }
  auto claim =
      deps_.registry.claim(agent_, lane_, buffer_, h.epoch(), h.next_seq(), shared_from_this());
  if (claim.outcome != SessionRegistry::Outcome::kOk) {
    refuse_locked(Refusal::kDuplicateBuffer,
                  SessionRegistry::refusal_message(claim, agent_, lane_, buffer_, h.epoch()));
    return;
  }
  registered_ = true;
  hello_seen_ = true;
  hello_at_ = Clock::now();
  std::uint64_t durable = claim.durable_through;
  if (const auto s = deps_.sink.open_session(agent_, buffer_, h.next_seq())) {
    if (s->not_owner) {
      refuse_not_owner_locked(s->owner);
      return;
    }
    // exactly_once: the watermark Kafka holds committed (this replica read it back), not ours.
    durable = s->durable_through;
    session_ = s->session;
    claim.watermark_reset = s->reset;
  }
  if (claim.watermark_reset) {
    spdlog::warn(
        "hub: agent '{}' buffer '{}' says its next seq is {}, at or below what this hub saw "
        "confirmed: its seq space was reset; dedup starts over (duplicates possible, no skips)",
        printable(agent_), printable(buffer_), h.next_seq());
  }
  contract_.first_allowed = h.first_unacked_seq() ? h.first_unacked_seq() : h.next_seq();
  contract_.hello_next_seq = h.next_seq();
  tracker_.emplace(durable);
  sent_through_ = durable;
  skip_through_ = durable;
  for (const int f : h.features()) {
    if (f == v1::FEATURE_REJECT) reject_ok_ = true;
    if (f == v1::FEATURE_REJECT || f == v1::FEATURE_RECORD_LIMIT || f == v1::FEATURE_LANES ||
        (f == v1::FEATURE_PACKED_ZSTD && deps_.cfg.packed_batches)) {
      features_.push_back(static_cast<v1::Feature>(f));
    }
  }
  welcome_.emplace();
  auto* w = welcome_->mutable_welcome();
  w->set_hub_id(deps_.cfg.hub_id);
  w->set_durable_through(durable);
  w->set_max_batch_records(static_cast<std::uint32_t>(deps_.cfg.max_batch_records));
  w->set_max_batch_bytes(static_cast<std::uint32_t>(deps_.cfg.max_batch_bytes));
  w->set_max_record_bytes(deps_.sink.max_record_bytes());
  for (auto f : features_) w->add_features(f);
  deps_.metrics.stream_opened();
  spdlog::info(
      "hub: agent '{}' buffer '{}'{} connected from {} (epoch {}, first unacked {}, next seq {}, "
      "known durable through {}, {} feature(s))",
      printable(agent_), printable(buffer_), lane_for_log(), printable(peer_), h.epoch(),
      h.first_unacked_seq(), h.next_seq(), durable, features_.size());
  maybe_write_locked();
  maybe_read_locked();
}

void StreamReactor::handle_batch(std::unique_ptr<google::protobuf::Arena> arena,
                                 v1::AgentMessage* msg, std::size_t bytes) {
  const v1::Batch& b = msg->batch();
  InflightBatch* ib = nullptr;
  {
    std::lock_guard lk(mu_);
    const BatchLimits limits{deps_.cfg.max_batch_records, deps_.cfg.max_batch_bytes,
                             deps_.cfg.max_seq_rate};
    if (auto v = check_batch(b, contract_, limits, Clock::now() - hello_at_)) {
      refuse_locked(Refusal::kInvalidBatch, "agent '" + agent_ + "': " + v->field + " " + v->what +
                                                "; nothing of this batch is acked");
      return;
    }
    if (const auto wait =
            deps_.limiter.admit(agent_, static_cast<std::size_t>(b.records_size()), bytes);
        wait.count() > 0) {
      // Like HTTP 429: nothing of this batch is taken; the agent resends it after the hint.
      deps_.metrics.rate_limited();
      ctx_->AddTrailingMetadata("retry-after-ms", std::to_string(wait.count()));
      refuse_locked(Refusal::kRateLimited, "agent '" + agent_ +
                                               "' is over its rate limit; retry after " +
                                               std::to_string(wait.count()) + " ms");
      return;
    }
    contract_.last_seq = b.records(b.records_size() - 1).seq();
    ib = new InflightBatch(shared_from_this(), std::move(arena), b, bytes);
    ib->slots.reserve(static_cast<std::size_t>(b.records_size()));
    const std::uint64_t skip_through = skip_through_;
    for (int i = 0; i < b.records_size(); ++i) {
      if (b.records(i).seq() <= skip_through) continue;  // already durable: ack, do not rewrite
      ib->slots.push_back(
          DeliverySlot{ib, b.records(i).seq(), static_cast<std::uint32_t>(i), false});
    }
    const std::size_t dups = static_cast<std::size_t>(b.records_size()) - ib->slots.size();
    const auto acked_before = tracker_->acked_batch();
    ib->ordinal = tracker_->add_batch(b.batch_id(), contract_.last_seq, ib->slots.size());
    deps_.metrics.records_in(ib->slots.size());
    deps_.metrics.duplicates_skipped(dups);
    deps_.admission.hold(bytes);
    ib->retain();  // the producing side's reference
    if (tracker_->acked_batch() != acked_before) maybe_write_locked();
  }
  // Produce without the stream's lock: reports for this batch may arrive meanwhile.
  for (auto& slot : ib->slots) {
    const auto& r = b.records(static_cast<int>(slot.index));
    const SinkRecord rec{
        agent_,  buffer_, r.seq(), r.device_id(), r.mqtt_topic(), r.payload(), r.received_unix_ns(),
        session_};
    ib->retain();
    DeliveryResult res;
    ProduceStatus st = deps_.sink.produce(rec, &slot, &res);
    for (int tries = 0; st == ProduceStatus::kQueueFull && tries < 200; ++tries) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(1));  // the hub's own bounds make this rare
      st = deps_.sink.produce(rec, &slot, &res);
    }
    if (st == ProduceStatus::kQueueFull) {
      res = DeliveryResult{false, ErrorClass::kRetriable, "_QUEUE_FULL",
                           "Kafka producer queue full for 200 ms"};
    }
    if (st != ProduceStatus::kQueued && !on_record_result(*ib, slot, res)) ib->release();
  }
  ib->release();
  std::lock_guard lk(mu_);
  maybe_read_locked();
}

void StreamReactor::maybe_read_locked() {
  if (reading_ || read_closed_ || finish_wanted_ || draining_ || !hello_seen_) return;
  const char* why = nullptr;
  if (tracker_->unresolved() >= deps_.cfg.max_inflight_records) {
    why = "Kafka has not confirmed hub.max_inflight_records of this stream";
  } else {
    const bool records_full = deps_.sink.in_flight() >= deps_.cfg.max_inflight_records_total;
    // The closure (an allocation) is built only when the hub is full, not per read.
    if ((records_full || !deps_.admission.room()) &&
        (waiting_for_room_ ||
         !deps_.admission.room_or_wait(records_full, [weak = weak_from_this()] {
           auto s = weak.lock();
           if (s) s->on_room();
           return s != nullptr;
         }))) {
      waiting_for_room_ = true;  // registered once; on_room() clears it
      why = records_full ? "Kafka has not confirmed hub.max_inflight_records_total records"
                         : "Kafka has not confirmed hub.max_inflight_bytes";
    }
  }
  if (why) {
    slow_down_reason_ = why;
    if (!paused_) {
      paused_ = true;
      const std::uint64_t id = ++pause_id_;
      std::weak_ptr<StreamReactor> weak = shared_from_this();
      deps_.timers.after(deps_.cfg.slow_down, [weak, id] {
        if (auto s = weak.lock()) s->slow_down_check(id);
      });
    }
    return;
  }
  paused_ = false;
  reading_ = true;
  StartRead(&in_);
}

void StreamReactor::on_room() {
  std::lock_guard lk(mu_);
  waiting_for_room_ = false;
  if (paused_) maybe_read_locked();
}

void StreamReactor::slow_down_check(std::uint64_t pause_id) {
  std::lock_guard lk(mu_);
  if (!paused_ || pause_id != pause_id_ || finish_wanted_) return;
  maybe_read_locked();  // room may have come without a wake-up meant for this stream
  if (!paused_) return;
  slow_down_wanted_ = true;
  maybe_write_locked();
  std::weak_ptr<StreamReactor> weak = shared_from_this();
  deps_.timers.after(deps_.cfg.slow_down, [weak, pause_id] {
    if (auto s = weak.lock()) s->slow_down_check(pause_id);
  });
}

void StreamReactor::maybe_write_locked() {
  if (writing_ || finished_) return;
  v1::HubMessage m;
  if (welcome_) {
    m = std::move(*welcome_);
    welcome_.reset();
  } else if (tracker_ && (tracker_->durable_through() > sent_through_ ||
                          tracker_->acked_batch() > sent_batch_ || !rejected_.empty())) {
    const std::uint64_t through = tracker_->durable_through();
    auto* a = m.mutable_ack();
    a->set_acked_through(through);
    a->set_batch_id(tracker_->acked_batch());
    auto keep = rejected_.begin();
    for (auto& [seq, reason] : rejected_) {
      if (seq <= through) {
        auto* r = a->add_rejected();
        r->set_seq(seq);
        r->set_reason(std::move(reason));
      } else {
        *keep++ = {seq, std::move(reason)};
      }
    }
    rejected_.erase(keep, rejected_.end());
    if (through == sent_through_ && tracker_->acked_batch() == sent_batch_ &&
        a->rejected_size() == 0) {
      m.Clear();  // only rejects above the ack position wait: nothing to say yet
    } else {
      sent_through_ = through;
      sent_batch_ = tracker_->acked_batch();
      deps_.metrics.ack_sent();
    }
  }
  if (m.msg_case() == v1::HubMessage::MSG_NOT_SET && slow_down_wanted_) {
    slow_down_wanted_ = false;
    m.mutable_slow_down()->set_retry_after_ms(
        static_cast<std::uint32_t>(deps_.cfg.slow_down.count()));
    m.mutable_slow_down()->set_reason(slow_down_reason_);
    deps_.metrics.slow_down_sent();
  }
  if (m.msg_case() == v1::HubMessage::MSG_NOT_SET) {
    if (finish_wanted_) {
      finished_ = true;
      Finish(*finish_wanted_);
    }
    return;
  }
  const std::string bytes = m.SerializeAsString();
  grpc::Slice slice(bytes);
  out_ = grpc::ByteBuffer(&slice, 1);
  writing_ = true;
  StartWrite(&out_);
}

void StreamReactor::OnWriteDone(bool ok) {
  std::lock_guard lk(mu_);
  writing_ = false;
  if (!ok && !finish_wanted_) {
    finish_wanted_ = grpc::Status(grpc::StatusCode::CANCELLED, "the agent went away");
  }
  if (!ok) {
    finished_ = true;
    Finish(*finish_wanted_);
    return;
  }
  maybe_write_locked();
}

void StreamReactor::refuse_not_owner_locked(const std::string& owner) {
  if (owner.empty()) {
    ctx_->AddTrailingMetadata("retry-after-ms", std::to_string(kRebalancingRetryMs));
    refuse_locked(Refusal::kRebalancing, "agent '" + agent_ +
                                             "': the hub replicas are rebalancing and no owner of "
                                             "it is known yet; retry");
    return;
  }
  // The redirect goes out before the status (a new agent follows it; an older one sees no
  // welcome and reconnects with backoff). The address also travels as a trailer for other tools.
  const std::string why = "agent '" + agent_ + "' is owned by the hub replica at " + owner;
  welcome_.emplace();
  welcome_->mutable_redirect()->set_address(owner);
  welcome_->mutable_redirect()->set_reason(why);
  ctx_->AddTrailingMetadata("edgesync-owner", owner);
  refuse_locked(Refusal::kNotOwner, why);
}

void StreamReactor::refuse_locked(Refusal r, const std::string& message) {
  const auto& info = refusal_info(r);
  deps_.metrics.stream_rejected(info.label);
  deps_.refusal_log.warn(r, peer_, agent_, message);
  finish_locked(grpc::Status(info.code, message));
}

void StreamReactor::finish_locked(grpc::Status st) {
  if (finish_wanted_ || finished_) return;
  finish_wanted_ = std::move(st);
  maybe_write_locked();
  if (!finished_) {
    std::weak_ptr<StreamReactor> weak = shared_from_this();
    deps_.timers.after(kFinishWriteGrace, [weak] {
      if (auto s = weak.lock()) {
        std::lock_guard lk(s->mu_);
        if (!s->finished_ && !s->done_) s->ctx_->TryCancel();
      }
    });
  }
}

void StreamReactor::maybe_finish_drained_locked() {
  if (finish_wanted_ || !tracker_ || tracker_->unresolved() > 0) return;
  if (draining_) {
    finish_locked(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               "hub is shutting down; everything sent was acked, reconnect"));
  } else if (read_closed_) {
    finish_locked(grpc::Status::OK);
  }
}

void StreamReactor::OnCancel() {
  std::lock_guard lk(mu_);
  finish_locked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
}

void StreamReactor::replaced() {
  std::lock_guard lk(mu_);
  spdlog::info("hub: agent '{}'{} opened a newer stream of the same buffer; closing this one ({})",
               agent_for_log(), lane_for_log(), printable(peer_));
  finish_locked(
      grpc::Status(grpc::StatusCode::ABORTED, "a newer stream of this agent's buffer took over"));
}

void StreamReactor::drain() {
  std::lock_guard lk(mu_);
  draining_ = true;
  if (!hello_seen_) {
    finish_locked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "hub is shutting down"));
    return;
  }
  maybe_finish_drained_locked();
}

void StreamReactor::kafka_unhealthy(const std::string& reason) {
  std::lock_guard lk(mu_);
  if (!tracker_ || tracker_->unresolved() == 0 || finish_wanted_) return;
  slow_down_reason_ = reason;
  slow_down_wanted_ = true;
  maybe_write_locked();
}

void StreamReactor::ownership_changed() {
  std::lock_guard lk(mu_);
  if (session_ == 0 || finish_wanted_ || finished_ || deps_.sink.session_live(session_)) return;
  // Its records were committed or refused when the session ended; the agent reconnects and is
  // redirected to the new owner.
  refuse_locked(Refusal::kRebalancing, "agent '" + agent_ +
                                           "': the hub replicas rebalanced and this one no "
                                           "longer owns it; reconnect");
}

void StreamReactor::OnDone() {
  std::shared_ptr<StreamReactor> keep;
  {
    std::lock_guard lk(mu_);
    done_ = true;
    keep = std::move(self_);
  }
  if (registered_) deps_.registry.release(agent_, lane_, this);
  deps_.admission.close_stream(peer_);
  deps_.metrics.stream_closed();
  if (hello_seen_) {
    spdlog::info("hub: agent '{}'{} stream ended (acked through {})", agent_for_log(),
                 lane_for_log(), sent_through_);
  }
}

}  // namespace edgesync::hub
