// MQTT session towards the local broker: subscriptions, device id from topic, payload limits.
// Every message goes to the Buffer from Paho's callback thread, so a full commit window holds
// back Paho (and, through TCP, the broker) instead of growing memory.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "agent_config.hpp"
#include "buffer/buffer.hpp"

namespace mqtt {
class async_client;
}

namespace edgesync::agent {

struct IngestCounters {
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> dropped_oversize{0};
  std::atomic<std::uint64_t> reconnects{0};  // connects, the first one included
  std::atomic<bool> connected{false};
  // Subscriptions the broker acknowledged (SUBACK), over all connects: once it reaches
  // connects x topic filters, messages published now are delivered (tests wait on it).
  std::atomic<std::uint64_t> subscribed{0};
};

class MqttIngest {
 public:
  MqttIngest(const AgentConfig::Mqtt& cfg, BufferWriter& buffer);
  ~MqttIngest();
  MqttIngest(const MqttIngest&) = delete;
  MqttIngest& operator=(const MqttIngest&) = delete;

  // Connects in the background (retrying while the broker is not up yet) and subscribes.
  void start();
  // Disconnects; no message callback runs after it returns.
  void stop();
  const IngestCounters& counters() const { return counters_; }

  // The hub's announced limit: the largest record Kafka takes (0 = no hub limit). Thread-safe.
  // A message is refused at ingest (counted as an oversize drop, logged, never buffered) when
  //   payload bytes > mqtt.max_payload_bytes, or
  //   record bytes  > n, where record bytes = payload + topic + device id bytes
  // (what the hub puts into the Kafka record besides its fixed headers).
  void set_max_record_bytes(std::size_t n) { max_record_bytes_.store(n); }
  std::size_t max_record_bytes() const { return max_record_bytes_.load(); }

  // The message path without MQTT (Paho's callback calls it; tests call it directly).
  void on_message(const std::string& topic, const std::string& payload, int qos);

 private:
  void on_connected();

  class SubscribeListener;

  AgentConfig::Mqtt cfg_;
  BufferWriter& buffer_;
  IngestCounters counters_;
  std::unique_ptr<SubscribeListener> subscribe_listener_;
  std::unique_ptr<mqtt::async_client> client_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> max_record_bytes_{0};
  std::jthread connect_thread_;
};

}  // namespace edgesync::agent
