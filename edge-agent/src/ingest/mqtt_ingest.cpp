#include "ingest/mqtt_ingest.hpp"

#include <cstdlib>

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "edgesync/common/mqtt_topic.hpp"
#include "edgesync/common/secrets.hpp"
#include "unix_clock.hpp"

namespace edgesync::agent {
namespace {

mqtt::connect_options make_connect_options(const AgentConfig::Mqtt& c) {
  auto b = mqtt::connect_options_builder()
               .clean_session(c.clean_session)
               .keep_alive_interval(std::chrono::seconds(c.keepalive_s))
               .automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(8))
               .connect_timeout(std::chrono::seconds(10));
  if (!c.username.empty()) b.user_name(c.username);
  if (!c.password_file.empty()) b.password(read_secret_file(c.password_file));
  if (c.tls.enabled) {
    auto ssl = mqtt::ssl_options_builder().enable_server_cert_auth(true);
    if (!c.tls.ca_file.empty()) ssl.trust_store(c.tls.ca_file);
    if (!c.tls.cert_file.empty()) ssl.key_store(c.tls.cert_file);
    if (!c.tls.key_file.empty()) ssl.private_key(c.tls.key_file);
    b.ssl(ssl.finalize());
  }
  return b.finalize();
}

}  // namespace

// Counts SUBACKs; a refused subscription is logged with its filter.
class MqttIngest::SubscribeListener : public mqtt::iaction_listener {
 public:
  explicit SubscribeListener(IngestCounters& c) : c_(c) {}
  void on_success(const mqtt::token&) override { c_.subscribed.fetch_add(1); }
  void on_failure(const mqtt::token& tok) override {
    const auto topics = tok.get_topics();
    spdlog::error("mqtt: subscribing to '{}' failed (return code {})",
                  topics && topics->size() > 0 ? (*topics)[0] : std::string("?"),
                  tok.get_return_code());
  }

 private:
  IngestCounters& c_;
};

MqttIngest::MqttIngest(const AgentConfig::Mqtt& cfg, BufferWriter& buffer)
    : cfg_(cfg),
      buffer_(buffer),
      subscribe_listener_(std::make_unique<SubscribeListener>(counters_)),
      client_(std::make_unique<mqtt::async_client>(cfg.uri, cfg.client_id)) {
  client_->set_connected_handler([this](const std::string&) { on_connected(); });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    counters_.connected = false;
    if (!stopping_) {
      spdlog::warn("mqtt: connection to {} lost ({}); reconnecting", cfg_.uri,
                   cause.empty() ? "no reason given" : cause);
    }
  });
  client_->set_message_callback([this](const mqtt::const_message_ptr& m) {
    on_message(m->get_topic(), m->get_payload(), m->get_qos());
  });
}

MqttIngest::~MqttIngest() {
  stop();
}

void MqttIngest::start() {
  connect_thread_ = std::jthread([this] {
    auto opts = make_connect_options(cfg_);
    spdlog::info("mqtt: connecting to {} as '{}' (clean_session={})", cfg_.uri, cfg_.client_id,
                 cfg_.clean_session);
    // Paho's automatic reconnect only takes over after a first successful connect; until then
    // we retry here, so the agent may start before the broker.
    for (int attempt = 0; !stopping_; ++attempt) {
      try {
        client_->connect(opts)->wait();
        return;
      } catch (const mqtt::exception& e) {
        if (attempt == 0) {
          spdlog::warn("mqtt: connect to {} failed ({}); retrying every second", cfg_.uri,
                       e.what());
        }
      }
      for (int i = 0; i < 10 && !stopping_; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  });
}

void MqttIngest::on_connected() {
  counters_.connected = true;
  if (counters_.reconnects.fetch_add(1) > 0) {
    spdlog::info("mqtt: reconnected to {}", cfg_.uri);
  }
  // Subscribing again is harmless with a persistent session and needed with a clean one.
  for (const auto& t : cfg_.topics) {
    try {
      client_->subscribe(t, cfg_.qos, nullptr, *subscribe_listener_);
    } catch (const mqtt::exception& e) {
      spdlog::error("mqtt: subscribe to '{}' failed: {}", t, e.what());
    }
  }
  spdlog::info("mqtt: connected to {}, subscribed to {} filter(s) at QoS {}", cfg_.uri,
               cfg_.topics.size(), cfg_.qos);
}

void MqttIngest::on_message(const std::string& topic, const std::string& payload, int qos) {
  counters_.received.fetch_add(1, std::memory_order_relaxed);
  auto dev = topic_level(topic, cfg_.device_segment);
  const std::string_view device = dev.empty() ? std::string_view(topic) : dev;
  const std::size_t hub_limit = max_record_bytes_.load(std::memory_order_relaxed);
  const std::size_t record_bytes = payload.size() + topic.size() + device.size();
  const bool over_payload = payload.size() > cfg_.max_payload_bytes;
  if (over_payload || (hub_limit > 0 && record_bytes > hub_limit)) {
    counters_.dropped_oversize.fetch_add(1, std::memory_order_relaxed);
    buffer_.record_drop(DropReason::kOversize, 1);
    if (over_payload) {
      spdlog::warn("mqtt: dropped {} byte message on topic '{}': over mqtt.max_payload_bytes={}",
                   payload.size(), topic, cfg_.max_payload_bytes);
    } else {
      spdlog::warn(
          "mqtt: dropped message on topic '{}': {} record bytes (payload + topic + device id) "
          "over the hub's limit of {} (the largest record its Kafka takes)",
          topic, record_bytes, hub_limit);
    }
    return;
  }
  IncomingMessage msg;
  msg.device_id = std::string(device);
  msg.topic = topic;
  msg.payload = payload;
  msg.received_unix_ns = now_unix_ns();
  msg.qos = qos;
  const AppendStatus st = buffer_.append(std::move(msg));
  if (st == AppendStatus::kAccepted) {
    counters_.accepted.fetch_add(1, std::memory_order_relaxed);
  } else if (st == AppendStatus::kFailed) {
    // Returning would let Paho acknowledge a message that was not stored. Exit instead: the
    // broker redelivers it (and the rest of the window) to the next start, which moves the
    // failed file aside (the buffer logged why).
    spdlog::critical(
        "mqtt: the buffer cannot store messages any more; exiting with {} so the "
        "broker keeps them for the next start",
        kExitBufferFailed);
    spdlog::shutdown();
    std::_Exit(kExitBufferFailed);
  }
}

void MqttIngest::stop() {
  if (stopping_.exchange(true)) return;
  if (connect_thread_.joinable()) connect_thread_.join();
  try {
    if (client_->is_connected()) client_->disconnect(std::chrono::seconds(2))->wait();
  } catch (const mqtt::exception& e) {
    spdlog::debug("mqtt: disconnect: {}", e.what());
  }
  counters_.connected = false;  // Paho calls no connection-lost handler for a disconnect
}

}  // namespace edgesync::agent
