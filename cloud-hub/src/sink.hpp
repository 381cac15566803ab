// The seam between the gRPC side and Kafka. KafkaSink is the product implementation; tests
// substitute sinks that fail the Nth delivery.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace edgesync::hub {

struct SinkRecord {
  std::string_view agent_id;
  std::uint64_t seq = 0;
  std::string_view device_id;
  std::string_view mqtt_topic;
  std::string_view payload;
  std::int64_t received_unix_ns = 0;
};

// Receives exactly one delivery result per accepted record, from the sink's own thread.
class DeliveryListener {
 public:
  virtual ~DeliveryListener() = default;
  virtual void on_delivery(std::uint64_t seq, bool ok, std::string_view error) = 0;
};

enum class ProduceStatus {
  kQueued,     // accepted; on_delivery will follow
  kQueueFull,  // not accepted, retry later (backpressure)
  kFailed,     // not accepted, permanent (e.g. unknown topic); no on_delivery
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual ProduceStatus produce(const SinkRecord& r, std::shared_ptr<DeliveryListener> listener,
                                std::string* error) = 0;
  // Waits until every accepted record has a delivery result or the timeout passes.
  virtual bool flush(std::chrono::milliseconds timeout) = 0;
  // Records accepted and not yet reported.
  virtual std::size_t in_flight() const = 0;
  // Whether the destination looks reachable (cached, never blocks); false fills `reason`.
  virtual bool healthy(std::string* /*reason*/) const { return true; }
};

}  // namespace edgesync::hub
