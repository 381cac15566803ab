#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "edgesync/common/config.hpp"

namespace edgesync::hub {

struct Route {
  std::string filter;  // MQTT topic filter
  std::string topic;   // Kafka topic
  std::string compression;  // "" = producer default
};

struct HubConfig {
  std::string listen;
  std::string hub_id;
  std::chrono::milliseconds shutdown_grace{20000};
  std::size_t max_batch_records = 5000;
  std::size_t max_batch_bytes = 4 << 20;
  std::size_t max_inflight_records = 20000;  // per stream, not yet confirmed by Kafka
  struct Tls {
    bool enabled = false;
    std::string ca_file, cert_file, key_file;
    bool require_client_cert = false;
  } tls;
  std::string tokens_file;

  struct Kafka {
    std::string bootstrap_servers;
    std::string default_topic;
    std::vector<Route> routes;
    std::map<std::string, std::string> properties;
    std::chrono::milliseconds delivery_timeout{120000};
  } kafka;

  std::string log_level, log_format;
};

const config::Schema& hub_schema();
HubConfig load_hub_config(const std::string& path);
HubConfig hub_config_from(const config::Values& v);

}  // namespace edgesync::hub
