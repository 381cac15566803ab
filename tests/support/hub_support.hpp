// Test support for the cloud-hub integration tests: a hub started with a full generated config
// (any hub/kafka/metrics keys), a dedicated Kafka broker per test, reading a topic from any
// broker, and scraping the hub's Prometheus /metrics.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "process.hpp"
#include "services.hpp"

namespace edgesync::test {

// A Kafka broker of its own (scripts/kafka.sh in `dir`), stopped when destroyed.
class DedicatedKafka {
 public:
  explicit DedicatedKafka(const std::filesystem::path& dir);
  ~DedicatedKafka();
  DedicatedKafka(const DedicatedKafka&) = delete;
  DedicatedKafka& operator=(const DedicatedKafka&) = delete;
  const std::string& bootstrap() const { return bootstrap_; }
  void start();  // also restarts it after stop(): same ports, same data
  void stop();   // SIGTERM (scripts/kafka.sh stop)

 private:
  std::filesystem::path dir_;
  std::string bootstrap_;
};

struct HubYaml {
  HubYaml(std::string bs, std::string topic)
      : bootstrap(std::move(bs)), default_topic(std::move(topic)) {}
  std::string bootstrap;
  std::string default_topic;
  std::string hub_extra;    // lines inside `hub:` (two-space indented)
  std::string kafka_extra;  // lines inside `kafka:` (two-space indented)
  std::string top_extra;    // further top-level sections
  std::string log_format = "text";
  bool metrics = true;  // metrics.listen on a free loopback port
};

// cloud-hub with a generated config; `port()` is gRPC, `metrics_port()` /healthz /readyz /metrics.
class HubProcess {
 public:
  HubProcess(const std::filesystem::path& dir, const HubYaml& y);
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::filesystem::path config() const { return dir_ / "hub.yaml"; }
  std::filesystem::path log() const { return dir_ / "hub.log"; }
  void start();
  bool alive() { return proc_ && proc_->alive(); }
  Process& process() { return *proc_; }
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(30)) {
    int rc = proc_ ? proc_->stop(grace) : 0;
    proc_.reset();
    return rc;
  }
  // Value of one sample in /metrics (`name` includes labels as printed, e.g.
  // `edgesync_hub_streams_rejected_total{reason="stale_epoch"}`); -1 when absent.
  double metric(const std::string& name);
  // Sum of every sample of a family whose line starts with `prefix`.
  double metric_sum(const std::string& prefix);

 private:
  std::filesystem::path dir_;
  int port_, metrics_port_;
  std::unique_ptr<Process> proc_;
};

// Creates `topic` on `bootstrap` with topic configs (e.g. {"max.message.bytes", "50000"});
// throws on failure. One partition, replication 1.
void create_topic(const std::string& bootstrap, const std::string& topic,
                  const std::vector<std::pair<std::string, std::string>>& configs);

struct SeqReport {
  std::uint64_t records = 0, distinct = 0, gaps = 0, duplicates = 0, beyond = 0;
};
// Checks the `edgesync-seq` headers of `agent` against 1..committed.
SeqReport check_seqs(const std::vector<KafkaRecord>& recs, const std::string& agent,
                     std::uint64_t committed);

// Rewrites the agent's config (before start()) with extra lines inside its `uplink:` section
// (two-space indented, e.g. tls and token_file) and no status server of its own.
void write_agent_config(Agent& a, const AgentOptions& o, const std::string& uplink_extra);

}  // namespace edgesync::test
