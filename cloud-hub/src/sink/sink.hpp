// The seam between the gRPC side and Kafka. KafkaSink is the product implementation; tests
// substitute sinks that fail chosen deliveries.
//
// No allocation per record: the caller owns one DeliverySlot per produced record (kept in the
// batch the record came from) and the sink keeps only its address until the delivery report.
// The record's bytes (payload, key, headers) must stay valid until that report: the sink does
// not copy the payload.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace edgesync::hub {

struct SinkRecord {
  std::string_view agent_id;
  std::string_view buffer_id;  // "" from agents before 1.1
  std::uint64_t seq = 0;
  std::string_view device_id;
  std::string_view mqtt_topic;
  std::string_view payload;
  std::int64_t received_unix_ns = 0;
  std::uint64_t session = 0;  // from open_session(); 0 with sinks that keep no sessions
};

// What an exactly-once sink knows when a stream of (agent, buffer) starts: the highest seq Kafka
// holds committed for it (read from the watermark topic, never raised by the hello) and the
// session every produce() of that stream names. A newer session of the same buffer ends the
// older one: its records are refused (retriable) from then on.
struct SessionStart {
  std::uint64_t durable_through = 0;
  std::uint64_t session = 0;
  bool reset = false;  // the hello's next_seq was at or below the watermark: started over at 0
  // Several replicas (a consumer group over the watermark topic): this replica does not own the
  // agent, so no session was opened (`session` 0, nothing of the stream may be accepted). `owner`
  // is the owning replica's advertised address; "" while no owner is known (rebalancing).
  bool not_owner = false;
  std::string owner;
};

// How a failure is handled: retry (the stream ends unacked, the agent resends) or put the
// record aside (dead letter) so it does not block the records behind it.
enum class ErrorClass { kRetriable, kPermanent };

struct DeliveryResult {
  bool ok = true;
  ErrorClass error_class = ErrorClass::kRetriable;
  std::string_view error_name;  // librdkafka error name, e.g. "MSG_SIZE_TOO_LARGE"
  std::string_view error;       // human text
};

class DeliveryListener;

// One produced record, owned by the caller until its delivery report.
struct DeliverySlot {
  DeliveryListener* listener = nullptr;
  std::uint64_t seq = 0;
  std::uint32_t index = 0;   // position in the caller's batch
  bool dead_letter = false;  // this delivery went to the dead-letter topic
};

// Receives exactly one report per accepted produce, from the sink's own thread.
class DeliveryListener {
 public:
  virtual ~DeliveryListener() = default;
  virtual void on_delivery(DeliverySlot& slot, const DeliveryResult& result) = 0;
};

enum class ProduceStatus {
  kQueued,     // accepted; on_delivery will follow
  kQueueFull,  // not accepted, retry later (backpressure)
  kFailed,     // not accepted (`result` says why and whether it is permanent); no on_delivery
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual ProduceStatus produce(const SinkRecord& r, DeliverySlot* slot,
                                DeliveryResult* result) = 0;
  // Writes a record Kafka refused for a permanent reason to the dead-letter topic, with the
  // error in headers. kFailed with "no dead-letter topic" when none is configured.
  virtual ProduceStatus produce_dead_letter(const SinkRecord& r, std::string_view error,
                                            DeliverySlot* slot, DeliveryResult* result) = 0;
  // Waits until every accepted record has a delivery result or the timeout passes.
  virtual bool flush(std::chrono::milliseconds timeout) = 0;
  // Records accepted and not yet reported.
  virtual std::size_t in_flight() const = 0;
  // Whether the destination looks reachable (cached, never blocks); false fills `reason`.
  virtual bool healthy(std::string* /*reason*/) const { return true; }
  // Largest record (payload + topic + device id bytes) every route takes; 0 = unknown.
  virtual std::uint64_t max_record_bytes() const { return 0; }
  // Exactly-once sinks: starts a session of (agent, buffer) whose hello says `next_seq` comes
  // next. nullopt: the sink keeps no durable watermark (at-least-once; the hub's memory serves).
  virtual std::optional<SessionStart> open_session(std::string_view /*agent*/,
                                                   std::string_view /*buffer*/,
                                                   std::uint64_t /*next_seq*/) {
    return std::nullopt;
  }
  // Exactly-once sinks with several replicas: bumped whenever sessions were ended because their
  // agents moved to another replica (the service then asks each live stream, session_live()).
  virtual std::uint64_t ownership_changes() const { return 0; }
  virtual bool session_live(std::uint64_t /*session*/) const { return true; }
};

}  // namespace edgesync::hub
