// librdkafka producer: idempotent, acks=all, key = device id, value = payload, headers carry the
// agent id, sequence number, MQTT topic and receive time so any consumer can deduplicate.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "hub_config.hpp"
#include "hub_metrics.hpp"
#include "sink.hpp"

namespace edgesync::hub {

// Kafka header names (part of the data contract, documented in docs/cloud-hub.md).
inline constexpr const char* kHeaderAgent = "edgesync-agent";
inline constexpr const char* kHeaderSeq = "edgesync-seq";
inline constexpr const char* kHeaderTopic = "mqtt-topic";
inline constexpr const char* kHeaderReceived = "edgesync-received-ns";

class KafkaSink final : public Sink, private RdKafka::DeliveryReportCb, private RdKafka::EventCb {
 public:
  // `metrics` may be null (tools, tests); it must outlive the sink.
  explicit KafkaSink(const HubConfig::Kafka& cfg, HubMetrics* metrics = nullptr);
  ~KafkaSink() override;

  ProduceStatus produce(const SinkRecord& r, std::shared_ptr<DeliveryListener> listener,
                        std::string* error) override;
  bool flush(std::chrono::milliseconds timeout) override;
  std::size_t in_flight() const override { return in_flight_.load(); }

  // Producer health for /readyz: the last periodic metadata request succeeded (cached, refreshed
  // every kafka.health_check_ms) and no fatal producer error happened. Never blocks.
  bool healthy(std::string* reason) const override;

  // Kafka topic for an MQTT topic (first matching route, else the default topic).
  const std::string& route(std::string_view mqtt_topic) const;

 private:
  void dr_cb(RdKafka::Message& message) override;
  void event_cb(RdKafka::Event& event) override;
  void health_loop();

  HubConfig::Kafka cfg_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::vector<std::unique_ptr<RdKafka::Topic>> route_topics_;  // parallel to cfg_.routes
  std::unique_ptr<RdKafka::Topic> default_topic_;
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<bool> stop_{false};
  std::thread poller_;
  HubMetrics* metrics_;
  mutable std::mutex health_mu_;
  std::condition_variable health_cv_;
  bool health_ok_ = false;
  std::string health_reason_ = "no Kafka metadata yet";
  std::atomic<bool> fatal_{false};
  std::thread health_;
};

}  // namespace edgesync::hub
