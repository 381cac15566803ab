#include "kafka_sink.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <stdexcept>

#include "edgesync/common/mqtt_topic.hpp"
#include "edgesync/common/secrets.hpp"

namespace edgesync::hub {
namespace {

struct Pending {
  std::shared_ptr<DeliveryListener> listener;
  std::uint64_t seq;
  std::chrono::steady_clock::time_point produced_at;
};

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

std::unique_ptr<RdKafka::Conf> topic_conf(const std::string& compression) {
  std::unique_ptr<RdKafka::Conf> t(RdKafka::Conf::create(RdKafka::Conf::CONF_TOPIC));
  // Same partition for a key as the Java client would choose.
  set_or_throw(*t, "partitioner", "murmur2_random", "kafka");
  if (!compression.empty()) set_or_throw(*t, "compression.codec", compression, "kafka.routes");
  return t;
}

}  // namespace

KafkaSink::KafkaSink(const HubConfig::Kafka& cfg, HubMetrics* metrics)
    : cfg_(cfg), metrics_(metrics) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  set_or_throw(*conf, "bootstrap.servers", cfg_.bootstrap_servers, "kafka.bootstrap_servers");
  set_or_throw(*conf, "message.timeout.ms", std::to_string(cfg_.delivery_timeout.count()),
               "kafka.delivery_timeout_ms");
  // 20 ms, not librdkafka's 5: at 5 its broker thread woke so often that it took ~half of the
  // hub's CPU in a backlog drain (bench/profile.sh); 20 cut the hub's CPU per record by ~1/3 for
  // at most 15 ms more latency. kafka.properties can still set it.
  set_or_throw(*conf, "linger.ms", "20", "kafka");
  for (const auto& [k, v] : cfg_.properties) {
    set_or_throw(*conf, k, resolve_secret(v), "kafka.properties", looks_secret(k));
  }
  // The delivery guarantee rests on these; a pass-through property cannot weaken them.
  for (const char* k : {"enable.idempotence", "acks"}) {
    if (cfg_.properties.count(k)) {
      const auto& v = cfg_.properties.at(k);
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
  std::string err;
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(this), err) !=
          RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(this), err) != RdKafka::Conf::CONF_OK) {
    throw std::runtime_error("kafka: cannot set callbacks: " + err);
  }
  producer_.reset(RdKafka::Producer::create(conf.get(), err));
  if (!producer_) throw std::runtime_error("kafka: cannot create producer: " + err);
  for (const auto& r : cfg_.routes) {
    auto tc = topic_conf(r.compression);
    route_topics_.emplace_back(RdKafka::Topic::create(producer_.get(), r.topic, tc.get(), err));
    if (!route_topics_.back()) throw std::runtime_error("kafka: topic '" + r.topic + "': " + err);
  }
  auto tc = topic_conf("");
  default_topic_.reset(RdKafka::Topic::create(producer_.get(), cfg_.default_topic, tc.get(), err));
  if (!default_topic_)
    throw std::runtime_error("kafka: topic '" + cfg_.default_topic + "': " + err);
  poller_ = std::thread([this] {
    while (!stop_.load()) producer_->poll(100);
  });
  health_ = std::thread([this] { health_loop(); });
  spdlog::info(
      "kafka: producer for {} ready (idempotent, acks=all), default topic '{}', {} route(s)",
      cfg_.bootstrap_servers, cfg_.default_topic, cfg_.routes.size());
}

KafkaSink::~KafkaSink() {
  {
    std::lock_guard lk(health_mu_);
    stop_ = true;
  }
  health_cv_.notify_all();
  if (health_.joinable()) health_.join();
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
}

const std::string& KafkaSink::route(std::string_view mqtt_topic) const {
  for (std::size_t i = 0; i < cfg_.routes.size(); ++i) {
    if (topic_matches(cfg_.routes[i].filter, mqtt_topic)) return cfg_.routes[i].topic;
  }
  return cfg_.default_topic;
}

ProduceStatus KafkaSink::produce(const SinkRecord& r, std::shared_ptr<DeliveryListener> listener,
                                 std::string* error) {
  RdKafka::Topic* topic = default_topic_.get();
  for (std::size_t i = 0; i < cfg_.routes.size(); ++i) {
    if (topic_matches(cfg_.routes[i].filter, r.mqtt_topic)) {
      topic = route_topics_[i].get();
      break;
    }
  }
  char seq_buf[24], ns_buf[24];
  auto seq_end = std::to_chars(seq_buf, seq_buf + sizeof(seq_buf), r.seq).ptr;
  auto ns_end = std::to_chars(ns_buf, ns_buf + sizeof(ns_buf), r.received_unix_ns).ptr;
  auto pending = std::make_unique<Pending>(
      Pending{std::move(listener), r.seq, std::chrono::steady_clock::now()});
  const rd_kafka_resp_err_t err = rd_kafka_producev(
      producer_->c_ptr(), RD_KAFKA_V_RKT(topic->c_ptr()),
      RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_VALUE(const_cast<char*>(r.payload.data()), r.payload.size()),
      RD_KAFKA_V_KEY(r.device_id.data(), r.device_id.size()),
      RD_KAFKA_V_TIMESTAMP(r.received_unix_ns / 1000000),
      RD_KAFKA_V_HEADER(kHeaderAgent, r.agent_id.data(), static_cast<ssize_t>(r.agent_id.size())),
      RD_KAFKA_V_HEADER(kHeaderSeq, seq_buf, static_cast<ssize_t>(seq_end - seq_buf)),
      RD_KAFKA_V_HEADER(kHeaderTopic, r.mqtt_topic.data(),
                        static_cast<ssize_t>(r.mqtt_topic.size())),
      RD_KAFKA_V_HEADER(kHeaderReceived, ns_buf, static_cast<ssize_t>(ns_end - ns_buf)),
      RD_KAFKA_V_OPAQUE(pending.get()), RD_KAFKA_V_END);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    pending.release();  // owned by librdkafka until dr_cb
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    return ProduceStatus::kQueued;
  }
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return ProduceStatus::kQueueFull;
  if (error) *error = rd_kafka_err2str(err);
  return ProduceStatus::kFailed;
}

void KafkaSink::dr_cb(RdKafka::Message& m) {
  std::unique_ptr<Pending> p(static_cast<Pending*>(m.msg_opaque()));
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  if (!p) return;
  const bool ok = m.err() == RdKafka::ERR_NO_ERROR;
  const std::string err = ok ? std::string() : m.errstr();
  if (metrics_) {
    metrics_->delivered(
        std::chrono::steady_clock::now() - p->produced_at, ok,
        ok ? std::string() : rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(m.err())));
  }
  if (!ok)
    spdlog::warn("kafka: delivery of seq {} to '{}' failed: {}", p->seq, m.topic_name(), err);
  p->listener->on_delivery(p->seq, ok, err);
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

void KafkaSink::health_loop() {
  std::unique_lock lk(health_mu_);
  while (!stop_.load()) {
    lk.unlock();
    RdKafka::Metadata* md = nullptr;
    const auto err =
        producer_->metadata(false, nullptr, &md, static_cast<int>(cfg_.health_check.count()));
    std::unique_ptr<RdKafka::Metadata> owned(md);
    const bool ok = err == RdKafka::ERR_NO_ERROR && owned && !owned->brokers()->empty();
    if (metrics_) metrics_->set_in_flight(in_flight_.load());
    lk.lock();
    if (ok != health_ok_) {
      if (ok)
        spdlog::info("kafka: metadata reachable again ({} broker(s))", owned->brokers()->size());
      else
        spdlog::warn("kafka: metadata request failed: {}", RdKafka::err2str(err));
    }
    health_ok_ = ok;
    health_reason_ = ok ? std::string() : "Kafka metadata request failed: " + RdKafka::err2str(err);
    health_cv_.wait_for(lk, cfg_.health_check, [&] { return stop_.load(); });
  }
}

bool KafkaSink::healthy(std::string* reason) const {
  if (fatal_.load()) {
    if (reason) *reason = "fatal Kafka producer error (restart the hub)";
    return false;
  }
  std::lock_guard lk(health_mu_);
  if (!health_ok_ && reason) *reason = health_reason_;
  return health_ok_;
}

bool KafkaSink::flush(std::chrono::milliseconds timeout) {
  return producer_->flush(static_cast<int>(timeout.count())) == RdKafka::ERR_NO_ERROR;
}

}  // namespace edgesync::hub
