// Delivery reports of a batch and what the stream makes of them: confirmed, retriable failure
// (the stream ends unacked, the agent resends), permanent failure (dead-letter topic, else back
// to the agent's dead-letter table, else the stream ends as before 1.1).
#include "inflight_batch.hpp"

#include <spdlog/spdlog.h>

#include "edgesync/common/text.hpp"
#include "stream_reactor.hpp"

namespace edgesync::hub {

void InflightBatch::release() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  stream_->on_batch_done(*this);
  delete this;
}

void InflightBatch::on_delivery(DeliverySlot& slot, const DeliveryResult& result) {
  if (!stream_->on_record_result(*this, slot, result)) release();
}

bool StreamReactor::on_record_result(InflightBatch& b, DeliverySlot& slot,
                                     const DeliveryResult& r) {
  std::lock_guard lk(mu_);
  if (r.ok) {
    if (slot.dead_letter) {
      deps_.metrics.dead_lettered("topic");
      spdlog::warn("hub: agent '{}' seq {} went to the dead-letter topic {}", agent_for_log(),
                   slot.seq, deps_.cfg.kafka.dead_letter_topic);
    }
    resolve_locked(b.ordinal);
    return false;
  }
  const std::string reason = std::string(r.error_name) + ": " + std::string(r.error);
  if (r.error_class == ErrorClass::kRetriable) {
    if (!failed_) {
      failed_ = true;
      refuse_locked(Refusal::kKafkaDeliveryFailed,
                    "Kafka delivery of agent '" + agent_ + "' seq " + std::to_string(slot.seq) +
                        " failed (" + reason +
                        "); records after the last ack are not acked, "
                        "resend them");
    }
    return false;
  }
  spdlog::warn("hub: Kafka refused agent '{}' seq {} for good: {}", agent_for_log(), slot.seq,
               printable(reason));
  if (!slot.dead_letter) {
    const auto& rec = b.batch().records(static_cast<int>(slot.index));
    const SinkRecord sr{agent_,
                        buffer_,
                        rec.seq(),
                        rec.device_id(),
                        rec.mqtt_topic(),
                        rec.payload(),
                        rec.received_unix_ns(),
                        session_};
    DeliveryResult dres;
    if (deps_.sink.produce_dead_letter(sr, reason, &slot, &dres) == ProduceStatus::kQueued) {
      return true;
    }
  }
  reject_locked(b, slot, reason);
  return false;
}

void StreamReactor::reject_locked(InflightBatch& b, DeliverySlot& slot, std::string reason) {
  if (!reject_ok_) {
    // An agent before 1.1 cannot take the record back: end the stream as it always did, loudly.
    if (!failed_) {
      failed_ = true;
      spdlog::error(
          "hub: agent '{}' seq {} cannot be written to Kafka ({}) and the agent cannot take it "
          "back: set kafka.dead_letter_topic or upgrade the agent",
          agent_for_log(), slot.seq, printable(reason));
      refuse_locked(Refusal::kPermanentFailure, "seq " + std::to_string(slot.seq) + ": " + reason);
    }
    return;
  }
  deps_.metrics.dead_lettered("agent");
  rejected_.emplace_back(slot.seq, std::move(reason));
  resolve_locked(b.ordinal);
}

bool StreamReactor::resolve_locked(std::uint64_t ordinal) {
  if (failed_ || !tracker_) return false;
  const bool moved = tracker_->resolve(ordinal);
  if (moved) {
    deps_.registry.update_durable(agent_, buffer_, tracker_->durable_through());
    maybe_write_locked();
  }
  if (paused_) maybe_read_locked();
  maybe_finish_drained_locked();
  return moved;
}

void StreamReactor::on_batch_done(InflightBatch& b) {
  deps_.admission.release(b.bytes());
  deps_.metrics.batch_durable(std::chrono::steady_clock::now() - b.produced_at);
}

}  // namespace edgesync::hub
