#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "edgesync/common/config.hpp"
#include "edgesync/common/config_binding.hpp"

namespace edgesync::hub {

struct Route {
  std::string filter;       // MQTT topic filter
  std::string topic;        // Kafka topic
  std::string compression;  // "" = producer default
};

// The hub's settings. Every member bound to a key of hub.yaml (the table in hub_config.cpp) holds
// that key's one default in its initializer.
struct HubConfig {
  std::string listen = "0.0.0.0:7443";
  std::string hub_id;             // empty: the host name
  std::string advertise_address;  // resolved: `listen` when not set
  std::chrono::milliseconds shutdown_grace{20000};
  std::size_t max_batch_records = 5000;
  std::size_t max_batch_bytes = 4 << 20;
  std::size_t max_inflight_records = 20000;         // per stream, not yet confirmed by Kafka
  std::size_t max_inflight_records_total = 500000;  // hub-wide (the sink's in_flight())
  std::chrono::milliseconds slow_down{1000};        // blocked this long -> SlowDown(retry_after_ms)
  std::size_t max_streams = 12000;
  std::size_t max_streams_per_connection = 8;
  std::chrono::milliseconds hello_timeout{5000};
  std::size_t max_inflight_bytes = 256u << 20;
  std::uint64_t max_seq_rate = 1000000;
  // Welcome FEATURE_PACKED_ZSTD when an agent offers it. Not a config key: tests set it false to
  // play a hub from before packed batches.
  bool packed_batches = true;
  struct Tls {
    bool enabled = false;
    std::string ca_file, cert_file, key_file;
    bool require_client_cert = false;
  } tls;
  std::string tokens_file;
  double rate_records_per_s = 0;  // per agent, 0 = unlimited (integer keys)
  double rate_bytes_per_s = 0;
  double rate_burst_s = 2;

  struct Kafka {
    std::string bootstrap_servers;
    std::string default_topic = "telemetry";
    std::vector<Route> routes;
    std::map<std::string, std::string> properties;
    std::chrono::milliseconds delivery_timeout{120000};
    std::chrono::milliseconds health_check{3000};
    std::string dead_letter_topic;
    // Exactly-once delivery (kafka.delivery: exactly_once): transactional sink, watermark topic.
    bool exactly_once = false;
    std::chrono::milliseconds commit_interval{100};
    std::string watermark_topic = "edgesync-watermarks";
    int watermark_partitions = 12;
    std::string transactional_id;  // resolved: "edgesync-hub-<hub.id>" when not set
    std::chrono::milliseconds transaction_timeout{60000};
    // Ownership of agents by a consumer group over the watermark topic (exactly_once).
    std::string group_id;  // resolved: "edgesync-hub-" + watermark_topic when not set
    std::chrono::milliseconds group_session_timeout{10000};
  } kafka;

  std::string metrics_listen = "0.0.0.0:9103";  // "" = no status server
  std::string log_level = "info", log_format = "text";
};

const config::Schema& hub_schema();
// The key table with its bindings (tests: every key sets the member it reads back).
const config::BoundSchema<HubConfig>& hub_bound_schema();
// `hint` tells how to pass another file when this one cannot be read (config::load_file).
HubConfig load_hub_config(const std::string& path, std::string_view hint = {});
HubConfig hub_config_from(const config::Values& v);

}  // namespace edgesync::hub
