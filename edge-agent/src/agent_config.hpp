#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "buffer/buffer_options.hpp"
#include "edgesync/common/config.hpp"
#include "edgesync/common/config_binding.hpp"

namespace edgesync::agent {

struct TlsFiles {
  bool enabled = false;
  std::string ca_file, cert_file, key_file;
};

// The agent's settings. Every member bound to a key of agent.yaml (the table in agent_config.cpp)
// holds that key's one default in its initializer: the key table, the generated docs and a struct
// built in a test all read it from here.
struct AgentConfig {
  std::string agent_id;  // required

  struct Mqtt {
    std::string uri = "tcp://127.0.0.1:1883";
    std::string client_id;  // empty: "edgesync-<agent.id>"
    std::vector<std::string> topics = {"sensors/#"};
    int qos = 1;
    int device_segment = 1;
    bool clean_session = false;
    int keepalive_s = 30;
    std::string username, password_file;
    TlsFiles tls;
    std::size_t max_payload_bytes = 1u << 20;
  } mqtt;

  SqliteBufferOptions buffer;

  // Priority lanes (`lanes:`, docs/edge-agent.md "Lanes"): an MQTT message whose topic matches a
  // lane's filter goes to that lane's own buffer file and hub stream. The default lane (`buffer.*`,
  // name "") takes every other message and drains after all of them. Built by agent_config_from
  // from the `lanes[].*` rows (an object list, so not bound member by member).
  struct Lane {
    std::string name;                 // [a-z0-9_-]{1,32}, unique
    std::vector<std::string> topics;  // MQTT filters; subscribed beside mqtt.topics
    int priority = 0;                 // 0 drains first; ties keep the config order
    SqliteBufferOptions buffer;       // buffer.* with the lane's own keys applied
  };
  std::vector<Lane> lanes;  // sorted by priority (stable)

  struct Uplink {
    std::string hub;  // required
    std::string token_file;
    TlsFiles tls;
    std::string server_name;
    std::size_t batch_max_records = 500;
    std::size_t batch_max_bytes = 1 << 20;
    std::size_t max_inflight_batches = 32;
    std::chrono::milliseconds backoff_initial{200}, backoff_max{30000};
    std::chrono::milliseconds keepalive{20000};
    // zstd: packed batches when the hub welcomes FEATURE_PACKED_ZSTD, else plain batches.
    // In the order of uplink.compression's choices.
    enum class Compression { kNone, kGzip, kZstd } compression = Compression::kZstd;
    int zstd_level = 1;
    std::uint64_t max_bytes_per_s = 0;  // 0 = unlimited
  } uplink;

  std::string metrics_listen = "0.0.0.0:9102";  // empty: no status server
  std::string log_level = "info", log_format = "text";
};

const config::Schema& agent_schema();
// The key table with its bindings (tests: every key sets the member it reads back).
const config::BoundSchema<AgentConfig>& agent_bound_schema();
// Loads and validates; throws config::ConfigError naming file, line and key.
// `hint` tells how to pass another file when this one cannot be read (config::load_file).
AgentConfig load_agent_config(const std::string& path, std::string_view hint = {});
AgentConfig agent_config_from(const config::Values& v);
// The buffer file of lane `lane` when lanes[].path is not set: buffer.path with ".<lane>" before
// its extension ("/var/lib/edgesync/buffer.db" -> "/var/lib/edgesync/buffer.alerts.db").
std::string lane_buffer_path(const std::string& buffer_path, const std::string& lane);

}  // namespace edgesync::agent
