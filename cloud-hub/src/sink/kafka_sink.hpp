// librdkafka producer: idempotent, acks=all, key = device id, value = payload, headers carry the
// agent id, buffer id, sequence number, MQTT topic and receive time so any consumer can
// deduplicate. The payload is not copied: it lives in the caller's parsed batch until the
// delivery report.
#pragma once

#include <librdkafka/rdkafka.h>
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
inline constexpr const char* kHeaderBuffer = "edgesync-buffer";
inline constexpr const char* kHeaderSeq = "edgesync-seq";
inline constexpr const char* kHeaderTopic = "mqtt-topic";
inline constexpr const char* kHeaderReceived = "edgesync-received-ns";
// Dead-letter records only (Kafka Connect's DLQ carries the error the same way).
inline constexpr const char* kHeaderError = "edgesync-error";
inline constexpr const char* kHeaderOriginalTopic = "edgesync-original-topic";

// Kafka bytes a record takes beyond payload + MQTT topic + device id: the record batch header,
// the record's own framing and the edgesync headers (names and the longest values). The record
// limit announced to agents is the Kafka limit less this.
inline constexpr std::uint64_t kRecordOverheadBytes = 512;

// The producer configuration the sink runs with: the hub's settings, kafka.properties (secrets
// resolved) checked by librdkafka itself. Throws std::invalid_argument naming the property (never
// a secret's value). `cloud-hub check-config` calls it too.
std::unique_ptr<RdKafka::Conf> producer_conf(const HubConfig::Kafka& cfg);

// Topic configuration of every record topic: Kafka's (the Java client's) partitioner for the
// device-id key, and the route's compression ("" = producer default).
std::unique_ptr<RdKafka::Conf> topic_conf(const std::string& compression);
// The producer of either sink: `conf` with the sink's delivery-report and event callbacks.
// `*max_message_bytes` gets the producer's message.max.bytes (1000000 when not readable).
std::unique_ptr<RdKafka::Producer> make_producer(RdKafka::Conf& conf, RdKafka::DeliveryReportCb* dr,
                                                 RdKafka::EventCb* events,
                                                 std::uint64_t* max_message_bytes);
// A record topic handle with topic_conf(compression); throws naming the topic.
std::unique_ptr<RdKafka::Topic> make_topic(RdKafka::Producer& producer, const std::string& name,
                                           const std::string& compression);
// Index of the first route whose filter matches, else routes.size() (the default topic).
std::size_t route_index(const std::vector<Route>& routes, std::string_view mqtt_topic);
// The produce call every sink shares: payload by reference (no copy: the caller keeps it until the
// delivery report), key = device id, the edgesync headers (+ error headers for a dead letter),
// `slot` as the message's opaque.
rd_kafka_resp_err_t produce_record(rd_kafka_t* rk, rd_kafka_topic_t* topic, const SinkRecord& r,
                                   DeliverySlot* slot, std::string_view error,
                                   std::string_view original_topic);

class KafkaSink final : public Sink, private RdKafka::DeliveryReportCb, private RdKafka::EventCb {
 public:
  // `metrics` may be null (tools, tests); it must outlive the sink.
  explicit KafkaSink(const HubConfig::Kafka& cfg, HubMetrics* metrics = nullptr);
  ~KafkaSink() override;

  ProduceStatus produce(const SinkRecord& r, DeliverySlot* slot, DeliveryResult* result) override;
  ProduceStatus produce_dead_letter(const SinkRecord& r, std::string_view error, DeliverySlot* slot,
                                    DeliveryResult* result) override;
  bool flush(std::chrono::milliseconds timeout) override;
  std::size_t in_flight() const override { return in_flight_.load(); }

  // For /readyz: no fatal producer error, and Kafka answered recently (a metadata request or a
  // successful delivery within the last 3 health-check periods, so one slow answer on a busy
  // box does not flap readiness). Never blocks.
  bool healthy(std::string* reason) const override;
  std::uint64_t max_record_bytes() const override { return max_record_bytes_.load(); }

 private:
  void dr_cb(RdKafka::Message& message) override;
  void event_cb(RdKafka::Event& event) override;
  void health_loop(const std::stop_token& stop);
  void refresh_record_limit();
  // Topic index for an MQTT topic: a route's, else routes.size() (the default topic).
  std::size_t route(std::string_view mqtt_topic) const;
  RdKafka::Topic* topic_at(std::size_t i) const;
  // kFailed (permanent) when the record cannot fit topic `i` (librdkafka does not split a batch the
  // broker refuses as too large, so one oversized record would fail its whole batch).
  bool too_large(const SinkRecord& r, std::size_t i, DeliveryResult* result) const;

  HubConfig::Kafka cfg_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::vector<std::unique_ptr<RdKafka::Topic>> route_topics_;  // parallel to cfg_.routes
  std::unique_ptr<RdKafka::Topic> default_topic_;
  std::unique_ptr<RdKafka::Topic> dead_letter_topic_;  // null when not configured
  std::uint64_t producer_max_bytes_ = 1000000;         // producer message.max.bytes
  std::atomic<std::uint64_t> max_record_bytes_{0};
  // Largest record (payload + topic + device id) per topic index (routes, default, dead letter).
  std::unique_ptr<std::atomic<std::uint64_t>[]> topic_record_limit_;
  std::atomic<std::size_t> in_flight_{0};
  HubMetrics* metrics_;
  std::atomic<std::int64_t> last_ok_ns_{0};  // steady clock: metadata or delivery succeeded
  mutable std::mutex health_mu_;
  std::string health_reason_ = "no Kafka metadata yet";
  std::atomic<bool> fatal_{false};
  std::jthread poller_;
  std::jthread health_;
};

}  // namespace edgesync::hub
