#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "edgesync/common/config.hpp"

namespace edgesync::agent {

struct TlsFiles {
  bool enabled = false;
  std::string ca_file, cert_file, key_file;
};

struct AgentConfig {
  std::string agent_id;

  struct Mqtt {
    std::string uri;
    std::string client_id;
    std::vector<std::string> topics;
    int qos = 1;
    int device_segment = 1;
    bool clean_session = false;
    int keepalive_s = 30;
    std::string username, password_file;
    TlsFiles tls;
    std::size_t max_payload_bytes = 0;
  } mqtt;

  struct BufferCfg {
    std::string path;
    bool synchronous_full = true;
    std::size_t commit_window = 256;
    std::chrono::milliseconds commit_delay{20};
    std::size_t max_commit_batch = 2000;
    std::uint64_t max_bytes = 0;
    std::chrono::seconds max_age{0};
    bool block_when_full = false;
    bool quick_check = true;
    std::uint64_t disk_reserve_bytes = 2u << 20;
  } buffer;

  struct Uplink {
    std::string hub;
    std::string token_file;
    TlsFiles tls;
    std::string server_name;
    std::size_t batch_max_records = 500;
    std::size_t batch_max_bytes = 1 << 20;
    std::size_t max_inflight_batches = 16;
    std::chrono::milliseconds backoff_initial{200}, backoff_max{30000};
    std::chrono::milliseconds keepalive{20000};
    // zstd: packed batches when the hub welcomes FEATURE_PACKED_ZSTD, else plain batches.
    enum class Compression { kNone, kGzip, kZstd } compression = Compression::kZstd;
    int zstd_level = 1;
    std::uint64_t max_bytes_per_s = 0;  // 0 = unlimited
  } uplink;

  std::string metrics_listen;
  std::string log_level, log_format;
};

const config::Schema& agent_schema();
// Loads and validates; throws config::ConfigError naming file, line and key.
AgentConfig load_agent_config(const std::string& path);
AgentConfig agent_config_from(const config::Values& v);

}  // namespace edgesync::agent
