// Test support: real Mosquitto per test, the shared real Kafka broker (ctest fixture), and the
// edgesync binaries started with generated configs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "process.hpp"

namespace edgesync::test {

class Mosquitto {
 public:
  // persistent: the broker saves sessions and queued messages on a graceful stop (restart()).
  explicit Mosquitto(const std::filesystem::path& dir, int port = 0, bool persistent = false);
  int port() const { return port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  void restart();                 // graceful (SIGTERM), then start again on the same port
  void stop() { proc_.reset(); }  // hard (SIGKILL)
  void start();

 private:
  std::filesystem::path dir_;
  int port_;
  std::unique_ptr<Process> proc_;
};

// Bootstrap address of the broker started by the ctest fixture (EDGESYNC_KAFKA_BOOTSTRAP_FILE).
std::string kafka_bootstrap();
// A topic name unique to this test run.
std::string unique_topic(const std::string& base);

struct KafkaRecord {
  std::string key, value;
  std::map<std::string, std::string> headers;
  int32_t partition = 0;
  int64_t offset = 0;
};

// Reads every record of `topic` from the beginning until `expected` records arrived and then no
// new record for `idle`, or until `timeout`.
std::vector<KafkaRecord> read_topic(
    const std::string& topic, std::size_t expected, std::chrono::milliseconds timeout,
    std::chrono::milliseconds idle = std::chrono::milliseconds(1500));
// The same, from any broker (e.g. a dedicated one a test started itself).
std::vector<KafkaRecord> read_topic_from(
    const std::string& bootstrap, const std::string& topic, std::size_t expected,
    std::chrono::milliseconds timeout,
    std::chrono::milliseconds idle = std::chrono::milliseconds(1500));

struct HubOptions {
  std::string bootstrap;
  std::string default_topic;
  std::string extra_yaml;  // appended verbatim
};

class Hub {
 public:
  Hub(const std::filesystem::path& dir, const HubOptions& opts, int port = 0);
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  Process& process() { return *proc_; }
  void start();
  int stop() {
    int rc = proc_ ? proc_->stop() : 0;
    proc_.reset();
    return rc;
  }
  void kill9() {
    if (proc_) proc_->kill9();
    proc_.reset();
  }

 private:
  std::filesystem::path dir_;
  int port_;
  std::unique_ptr<Process> proc_;
};

struct AgentOptions {
  std::string agent_id;
  std::string mqtt_uri;
  std::string hub;
  std::string extra_yaml;  // appended verbatim (e.g. a buffer: section is built from fields)
  int commit_window = 256;
  int metrics_port = 0;          // 0: a free port (the support waits on the agent's /metrics)
  std::string uplink_yaml = {};  // extra keys of the uplink section, e.g. "  keepalive_ms: 1000\n"
};

// `edge-agent buffer status --db DB --json` of any buffer file (throws when the command fails).
nlohmann::json buffer_status_json(const std::filesystem::path& db);

// Occurrences of `needle` in `text` (log lines, metrics).
std::size_t count_in(const std::string& text, const std::string& needle);
// An agent id unique to this test process.
std::string agent_id(const std::string& base);

class Agent {
 public:
  Agent(const std::filesystem::path& dir, AgentOptions opts);
  std::filesystem::path db() const { return dir_ / "buffer.db"; }
  std::filesystem::path config() const { return dir_ / "agent.yaml"; }
  void start();
  int stop() {
    int rc = proc_ ? proc_->stop() : 0;
    proc_.reset();
    return rc;
  }
  void kill9() {
    if (proc_) proc_->kill9();
    proc_.reset();
  }
  bool running() { return proc_ && proc_->alive(); }
  // `edge-agent buffer status --json`: records stored and next seq.
  struct Status {
    std::uint64_t records = 0, next_seq = 0;
  };
  Status status();
  std::string log_tail() { return read_file(dir_ / "agent.log"); }
  // Waits until the broker acknowledged the agent's subscriptions `times` times since it started
  // (edgesync_agent_mqtt_subscriptions_total: SUBACKs, 2 filters per connect), not on log text.
  bool wait_subscribed(std::size_t times = 1,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // "127.0.0.1:PORT" of /metrics, /healthz and /readyz.
  std::string metrics_listen() const { return "127.0.0.1:" + std::to_string(opts_.metrics_port); }
  // An unlabelled sample of the agent's /metrics ("edgesync_agent_hub_connected"), -1 when the
  // agent does not answer or has no such sample.
  double metric(const std::string& name);

 private:
  std::filesystem::path dir_;
  AgentOptions opts_;
  std::unique_ptr<Process> proc_;
};

struct SimResult {
  std::uint64_t published = 0, acked = 0, failed = 0;
  double seconds = 0, rate = 0;
};

// Runs sensor-sim to completion with the given extra arguments.
SimResult run_sim(const std::string& mqtt_uri, const std::vector<std::string>& args);
// Starts sensor-sim in the background; parse its log with sim_result() after it exits.
std::unique_ptr<Process> start_sim(const std::string& mqtt_uri,
                                   const std::vector<std::string>& args,
                                   const std::filesystem::path& log);
SimResult sim_result(const std::filesystem::path& log);

}  // namespace edgesync::test
