#include "kafka_sink.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <limits>
#include <stdexcept>

#include "kafka_errors.hpp"
#include "record_limit.hpp"

#include "edgesync/common/mqtt_topic.hpp"
#include "edgesync/common/secrets.hpp"

namespace edgesync::hub {
namespace {

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

DeliveryResult failure(rd_kafka_resp_err_t err) {
  return DeliveryResult{false, classify_kafka_error(err), rd_kafka_err2name(err),
                        rd_kafka_err2str(err)};
}

void set_or_throw(RdKafka::Conf& conf, const std::string& key, const std::string& value,
                  const std::string& where, bool secret = false) {
  std::string err;
  if (conf.set(key, value, err) != RdKafka::Conf::CONF_OK) {
    throw std::invalid_argument(where + ": librdkafka property '" + key + "'" +
                                (secret ? "" : " = '" + value + "'") + ": " + err);
  }
}

bool looks_secret(const std::string& key) {
  return key.find("password") != std::string::npos || key.find("secret") != std::string::npos ||
         key.find("key") != std::string::npos;
}

}  // namespace

std::unique_ptr<RdKafka::Conf> topic_conf(const std::string& compression) {
  std::unique_ptr<RdKafka::Conf> t(RdKafka::Conf::create(RdKafka::Conf::CONF_TOPIC));
  // Same partition for a key as the Java client would choose.
  set_or_throw(*t, "partitioner", "murmur2_random", "kafka");
  if (!compression.empty()) set_or_throw(*t, "compression.codec", compression, "kafka.routes");
  return t;
}

namespace {

// kafka.delivery: exactly_once: the transactional settings, and the guard librdkafka's
// transactions need: a record's delivery timeout (message.timeout.ms) below the transaction's
// (transaction.timeout.ms), or a record still retried could outlive its transaction and the
// producer would raise a fatal error instead of an abortable one.
void exactly_once_conf(RdKafka::Conf& conf, const HubConfig::Kafka& cfg) {
  for (const char* k : {"transactional.id", "transaction.timeout.ms"}) {
    if (cfg.properties.count(k)) {
      throw std::invalid_argument(std::string("kafka.properties: '") + k +
                                  "' is set by the hub in exactly_once delivery (use "
                                  "kafka.transactional_id / kafka.transaction_timeout_ms)");
    }
  }
  set_or_throw(conf, "transactional.id", cfg.transactional_id, "kafka.transactional_id");
  set_or_throw(conf, "transaction.timeout.ms", std::to_string(cfg.transaction_timeout.count()),
               "kafka.transaction_timeout_ms");
  std::string message_timeout;
  if (conf.get("message.timeout.ms", message_timeout) != RdKafka::Conf::CONF_OK) {
    message_timeout = std::to_string(cfg.delivery_timeout.count());
  }
  const long long mt = std::strtoll(message_timeout.c_str(), nullptr, 10);
  if (mt <= 0 || mt >= cfg.transaction_timeout.count()) {
    throw std::invalid_argument(
        "kafka.delivery_timeout_ms (librdkafka message.timeout.ms = " + message_timeout +
        ") must be above 0 and below kafka.transaction_timeout_ms (" +
        std::to_string(cfg.transaction_timeout.count()) +
        ") in exactly_once delivery: set e.g. delivery_timeout_ms: 30000 with the default "
        "transaction_timeout_ms: 60000");
  }
}

}  // namespace

std::unique_ptr<RdKafka::Conf> producer_conf(const HubConfig::Kafka& cfg) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  set_or_throw(*conf, "bootstrap.servers", cfg.bootstrap_servers, "kafka.bootstrap_servers");
  set_or_throw(*conf, "message.timeout.ms", std::to_string(cfg.delivery_timeout.count()),
               "kafka.delivery_timeout_ms");
  // 20 ms, not librdkafka's 5: at 5 its broker thread woke so often that it took ~half of the
  // hub's CPU in a backlog drain (bench/profile.sh); 20 cut the hub's CPU per record by ~1/3 for
  // at most 15 ms more latency. kafka.properties can still set it.
  set_or_throw(*conf, "linger.ms", "20", "kafka");
  // The hub bounds what it holds itself (hub.max_inflight_records_total/_bytes); librdkafka's own
  // queue must not be the tighter bound, or produce() reports QUEUE_FULL under normal load.
  set_or_throw(*conf, "queue.buffering.max.messages", "2000000", "kafka");
  for (const auto& [k, v] : cfg.properties) {
    set_or_throw(*conf, k, resolve_secret(v), "kafka.properties", looks_secret(k));
  }
  // The delivery guarantee rests on these; a pass-through property cannot weaken them.
  for (const char* k : {"enable.idempotence", "acks"}) {
    if (cfg.properties.count(k)) {
      const auto& v = cfg.properties.at(k);
      if ((std::string(k) == "acks" && v != "all" && v != "-1") ||
          (std::string(k) == "enable.idempotence" && v != "true")) {
        throw std::invalid_argument(std::string("kafka.properties: '") + k +
                                    "' cannot be weakened (the hub acks only what Kafka confirmed "
                                    "with acks=all from an idempotent producer)");
      }
    }
  }
  set_or_throw(*conf, "enable.idempotence", "true", "kafka");
  set_or_throw(*conf, "acks", "all", "kafka");
  for (const auto& r : cfg.routes) (void)topic_conf(r.compression);
  if (cfg.exactly_once) exactly_once_conf(*conf, cfg);
  return conf;
}

std::unique_ptr<RdKafka::Producer> make_producer(RdKafka::Conf& conf, RdKafka::DeliveryReportCb* dr,
                                                 RdKafka::EventCb* events,
                                                 std::uint64_t* max_message_bytes) {
  std::string err, max_bytes;
  *max_message_bytes = 1000000;
  if (conf.get("message.max.bytes", max_bytes) == RdKafka::Conf::CONF_OK) {
    *max_message_bytes = std::strtoull(max_bytes.c_str(), nullptr, 10);
  }
  if (conf.set("dr_cb", dr, err) != RdKafka::Conf::CONF_OK ||
      conf.set("event_cb", events, err) != RdKafka::Conf::CONF_OK) {
    throw std::runtime_error("kafka: cannot set callbacks: " + err);
  }
  std::unique_ptr<RdKafka::Producer> p(RdKafka::Producer::create(&conf, err));
  if (!p) throw std::runtime_error("kafka: cannot create producer: " + err);
  return p;
}

std::unique_ptr<RdKafka::Topic> make_topic(RdKafka::Producer& producer, const std::string& name,
                                           const std::string& compression) {
  std::string err;
  auto tc = topic_conf(compression);
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(&producer, name, tc.get(), err));
  if (!t) throw std::runtime_error("kafka: topic '" + name + "': " + err);
  return t;
}

KafkaSink::KafkaSink(const HubConfig::Kafka& cfg, HubMetrics* metrics)
    : cfg_(cfg), metrics_(metrics) {
  std::unique_ptr<RdKafka::Conf> conf = producer_conf(cfg_);
  producer_ = make_producer(*conf, this, this, &producer_max_bytes_);
  for (const auto& r : cfg_.routes) {
    route_topics_.push_back(make_topic(*producer_, r.topic, r.compression));
  }
  default_topic_ = make_topic(*producer_, cfg_.default_topic, "");
  if (!cfg_.dead_letter_topic.empty()) {
    dead_letter_topic_ = make_topic(*producer_, cfg_.dead_letter_topic, "");
  }
  max_record_bytes_ =
      producer_max_bytes_ > kRecordOverheadBytes ? producer_max_bytes_ - kRecordOverheadBytes : 0;
  topic_record_limit_ = std::make_unique<std::atomic<std::uint64_t>[]>(cfg_.routes.size() + 2);
  for (std::size_t i = 0; i < cfg_.routes.size() + 2; ++i) {
    topic_record_limit_[i] = max_record_bytes_.load();
  }
  poller_ = std::jthread([this](const std::stop_token& stop) {
    while (!stop.stop_requested()) producer_->poll(100);
  });
  health_ = std::jthread([this](const std::stop_token& stop) { health_loop(stop); });
  spdlog::info(
      "kafka: producer for {} ready (idempotent, acks=all), default topic '{}', {} route(s), "
      "dead-letter topic '{}'",
      cfg_.bootstrap_servers, cfg_.default_topic, cfg_.routes.size(), cfg_.dead_letter_topic);
}

KafkaSink::~KafkaSink() {
  health_.request_stop();
  if (health_.joinable()) health_.join();
  poller_.request_stop();
  if (poller_.joinable()) poller_.join();
  if (in_flight_.load() > 0) {
    spdlog::warn(
        "kafka: {} records still unconfirmed at shutdown; they were not acked and the "
        "agents will resend them",
        in_flight_.load());
    rd_kafka_purge(producer_->c_ptr(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    producer_->poll(0);  // fire the failed delivery reports so listeners are released
  }
  route_topics_.clear();
  default_topic_.reset();
  dead_letter_topic_.reset();
}

std::size_t route_index(const std::vector<Route>& routes, std::string_view mqtt_topic) {
  for (std::size_t i = 0; i < routes.size(); ++i) {
    if (topic_matches(routes[i].filter, mqtt_topic)) return i;
  }
  return routes.size();
}

std::size_t KafkaSink::route(std::string_view mqtt_topic) const {
  return route_index(cfg_.routes, mqtt_topic);
}

RdKafka::Topic* KafkaSink::topic_at(std::size_t i) const {
  if (i < route_topics_.size()) return route_topics_[i].get();
  return i == route_topics_.size() ? default_topic_.get() : dead_letter_topic_.get();
}

bool KafkaSink::too_large(const SinkRecord& r, std::size_t i, DeliveryResult* result) const {
  const std::uint64_t size = r.payload.size() + r.mqtt_topic.size() + r.device_id.size();
  const std::uint64_t limit = topic_record_limit_[i].load(std::memory_order_relaxed);
  if (limit == 0 || size <= limit) return false;
  *result = DeliveryResult{false, ErrorClass::kPermanent, "MSG_SIZE_TOO_LARGE",
                           "record larger than the topic's max.message.bytes less headers"};
  return true;
}

rd_kafka_resp_err_t produce_record(rd_kafka_t* rk, rd_kafka_topic_t* topic, const SinkRecord& r,
                                   DeliverySlot* slot, std::string_view error,
                                   std::string_view original_topic) {
  char seq_buf[24], ns_buf[24];
  auto seq_end = std::to_chars(seq_buf, seq_buf + sizeof(seq_buf), r.seq).ptr;
  auto ns_end = std::to_chars(ns_buf, ns_buf + sizeof(ns_buf), r.received_unix_ns).ptr;
  rd_kafka_headers_t* h = rd_kafka_headers_new(error.empty() ? 5 : 7);
  const auto add = [h](const char* name, std::string_view v) {
    rd_kafka_header_add(h, name, -1, v.data(), static_cast<ssize_t>(v.size()));
  };
  add(kHeaderAgent, r.agent_id);
  if (!r.buffer_id.empty()) add(kHeaderBuffer, r.buffer_id);
  add(kHeaderSeq, std::string_view(seq_buf, static_cast<std::size_t>(seq_end - seq_buf)));
  add(kHeaderTopic, r.mqtt_topic);
  add(kHeaderReceived, std::string_view(ns_buf, static_cast<std::size_t>(ns_end - ns_buf)));
  if (!error.empty()) {
    add(kHeaderError, error);
    add(kHeaderOriginalTopic, original_topic);
  }
  const rd_kafka_resp_err_t err = rd_kafka_producev(
      rk, RD_KAFKA_V_RKT(topic), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
      RD_KAFKA_V_MSGFLAGS(0),  // no copy, no free: the caller keeps the payload until the report
      RD_KAFKA_V_VALUE(const_cast<char*>(r.payload.data()), r.payload.size()),
      RD_KAFKA_V_KEY(r.device_id.data(), r.device_id.size()),
      RD_KAFKA_V_TIMESTAMP(r.received_unix_ns / 1000000), RD_KAFKA_V_HEADERS(h),
      RD_KAFKA_V_OPAQUE(slot), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_headers_destroy(h);  // else owned by the msg
  return err;
}

ProduceStatus KafkaSink::produce(const SinkRecord& r, DeliverySlot* slot, DeliveryResult* result) {
  slot->dead_letter = false;
  const std::size_t i = route(r.mqtt_topic);
  if (too_large(r, i, result)) return ProduceStatus::kFailed;
  const auto err = produce_record(producer_->c_ptr(), topic_at(i)->c_ptr(), r, slot, {}, {});
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    return ProduceStatus::kQueued;
  }
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return ProduceStatus::kQueueFull;
  *result = failure(err);
  if (metrics_) metrics_->kafka_error(std::string("produce:") + rd_kafka_err2name(err));
  return ProduceStatus::kFailed;
}

ProduceStatus KafkaSink::produce_dead_letter(const SinkRecord& r, std::string_view error,
                                             DeliverySlot* slot, DeliveryResult* result) {
  if (!dead_letter_topic_) {
    *result = DeliveryResult{false, ErrorClass::kPermanent, "NO_DEAD_LETTER_TOPIC",
                             "kafka.dead_letter_topic is not set"};
    return ProduceStatus::kFailed;
  }
  slot->dead_letter = true;
  const std::size_t dl = cfg_.routes.size() + 1;
  if (too_large(r, dl, result)) return ProduceStatus::kFailed;
  const auto err = produce_record(producer_->c_ptr(), dead_letter_topic_->c_ptr(), r, slot, error,
                                  topic_at(route(r.mqtt_topic))->name());
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    return ProduceStatus::kQueued;
  }
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return ProduceStatus::kQueueFull;
  *result = failure(err);
  return ProduceStatus::kFailed;
}

void KafkaSink::dr_cb(RdKafka::Message& m) {
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  auto* slot = static_cast<DeliverySlot*>(m.msg_opaque());
  const auto err = static_cast<rd_kafka_resp_err_t>(m.err());
  const bool ok = err == RD_KAFKA_RESP_ERR_NO_ERROR;
  if (ok) {
    last_ok_ns_.store(steady_ns(), std::memory_order_relaxed);
  } else {
    spdlog::warn("kafka: delivery of seq {} to '{}' failed: {} ({})", slot ? slot->seq : 0,
                 m.topic_name(), m.errstr(), rd_kafka_err2name(err));
  }
  if (metrics_) metrics_->delivered(ok, ok ? std::string() : rd_kafka_err2name(err));
  if (!slot || !slot->listener) return;
  slot->listener->on_delivery(*slot, ok ? DeliveryResult{} : failure(err));
}

void KafkaSink::event_cb(RdKafka::Event& e) {
  switch (e.type()) {
    case RdKafka::Event::EVENT_ERROR:
      if (metrics_)
        metrics_->kafka_error(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(e.err())));
      if (e.fatal()) {
        fatal_ = true;
        spdlog::critical("kafka: fatal producer error: {} ({})", e.str(),
                         RdKafka::err2str(e.err()));
      } else {
        spdlog::warn("kafka: {} ({})", e.str(), RdKafka::err2str(e.err()));
      }
      break;
    case RdKafka::Event::EVENT_LOG:
      if (e.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) {
        spdlog::warn("kafka: {} {}", e.fac(), e.str());
      }
      break;
    default:
      break;
  }
}

void KafkaSink::refresh_record_limit() {
  std::vector<std::string> topics;
  for (const auto& r : cfg_.routes) topics.push_back(r.topic);
  topics.push_back(cfg_.default_topic);
  if (!cfg_.dead_letter_topic.empty()) topics.push_back(cfg_.dead_letter_topic);
  const auto found = topics_max_message_bytes(producer_->c_ptr(), topics, cfg_.health_check);
  const auto record_limit = [&](const std::string& topic) {
    std::uint64_t limit = producer_max_bytes_;
    if (auto it = found.find(topic); it != found.end()) limit = std::min(limit, it->second);
    return limit > kRecordOverheadBytes ? limit - kRecordOverheadBytes : 0;
  };
  std::uint64_t smallest = std::numeric_limits<std::uint64_t>::max();
  for (std::size_t i = 0; i < topics.size(); ++i) {
    const std::uint64_t limit = record_limit(topics[i]);
    const bool dead_letter = i == cfg_.routes.size() + 1;
    topic_record_limit_[i] = limit;
    if (!dead_letter) smallest = std::min(smallest, limit);
  }
  if (smallest != max_record_bytes_.exchange(smallest)) {
    spdlog::info(
        "kafka: largest record every route takes: {} bytes (producer message.max.bytes {}, {} of "
        "{} topic(s) described)",
        smallest, producer_max_bytes_, found.size(), topics.size());
  }
}

void KafkaSink::health_loop(const std::stop_token& stop) {
  bool was_ok = false;
  int round = 0;
  std::mutex m;
  std::condition_variable_any cv;
  while (!stop.stop_requested()) {
    RdKafka::Metadata* md = nullptr;
    const auto err =
        producer_->metadata(false, nullptr, &md, static_cast<int>(cfg_.health_check.count()));
    std::unique_ptr<RdKafka::Metadata> owned(md);
    const bool ok = err == RdKafka::ERR_NO_ERROR && owned && !owned->brokers()->empty();
    if (ok) last_ok_ns_.store(steady_ns(), std::memory_order_relaxed);
    if (ok && round++ % 20 == 0) refresh_record_limit();  // at start, then every 20 checks
    if (metrics_) metrics_->set_in_flight(in_flight_.load());
    if (ok != was_ok) {
      if (ok)
        spdlog::info("kafka: metadata reachable again ({} broker(s))", owned->brokers()->size());
      else
        spdlog::warn("kafka: metadata request failed: {}", RdKafka::err2str(err));
      was_ok = ok;
    }
    if (!ok) {
      std::lock_guard lk(health_mu_);
      health_reason_ = "Kafka metadata request failed: " + RdKafka::err2str(err);
    }
    std::unique_lock lk(m);
    cv.wait_for(lk, stop, cfg_.health_check, [] { return false; });
  }
}

bool KafkaSink::healthy(std::string* reason) const {
  if (fatal_.load()) {
    if (reason) *reason = "fatal Kafka producer error (restart the hub)";
    return false;
  }
  const std::int64_t last = last_ok_ns_.load(std::memory_order_relaxed);
  const std::int64_t window = 3 * std::chrono::nanoseconds(cfg_.health_check).count();
  const bool ok = last != 0 && steady_ns() - last <= window;
  if (!ok && reason) {
    std::lock_guard lk(health_mu_);
    *reason = health_reason_;
  }
  return ok;
}

bool KafkaSink::flush(std::chrono::milliseconds timeout) {
  return producer_->flush(static_cast<int>(timeout.count())) == RdKafka::ERR_NO_ERROR;
}

}  // namespace edgesync::hub
