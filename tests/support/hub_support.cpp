#include "hub_support.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <set>
#include <sstream>
#include <stdexcept>

namespace edgesync::test {
namespace {

std::string kafka_script() {
  return env_or("EDGESYNC_SOURCE_DIR", EDGESYNC_SOURCE_DIR_DEFAULT) + "/scripts/kafka.sh";
}

}  // namespace

DedicatedKafka::DedicatedKafka(const std::filesystem::path& dir) : dir_(dir) {
  start();
}

DedicatedKafka::~DedicatedKafka() {
  try {
    stop();
  } catch (...) {
  }
}

void DedicatedKafka::start() {
  auto [rc, out] = run_capture({kafka_script(), "start", dir_.string()}, std::chrono::minutes(3));
  if (rc != 0) throw std::runtime_error("kafka.sh start failed: " + out);
  bootstrap_ = read_file(dir_ / "bootstrap");
  while (!bootstrap_.empty() && (bootstrap_.back() == '\n' || bootstrap_.back() == ' ')) {
    bootstrap_.pop_back();
  }
}

void DedicatedKafka::stop() {
  run_capture({kafka_script(), "stop", dir_.string()}, std::chrono::minutes(1));
}

void create_topic(const std::string& bootstrap, const std::string& topic,
                  const std::vector<std::pair<std::string, std::string>>& configs) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (!rk) throw std::runtime_error(std::string("create_topic: ") + err);
  rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), 1, 1, err, sizeof(err));
  for (const auto& [k, v] : configs) rd_kafka_NewTopic_set_config(nt, k.c_str(), v.c_str());
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  std::string failure;
  if (!ev) {
    failure = "no answer in 30 s";
  } else if (const auto* res = rd_kafka_event_CreateTopics_result(ev)) {
    std::size_t n = 0;
    const auto** topics = rd_kafka_CreateTopics_result_topics(res, &n);
    if (n == 1 && rd_kafka_topic_result_error(topics[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      failure = rd_kafka_topic_result_error_string(topics[0]);
    }
  } else {
    failure = rd_kafka_event_error_string(ev);
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_destroy(rk);
  if (!failure.empty()) throw std::runtime_error("create_topic " + topic + ": " + failure);
}

HubProcess::HubProcess(const std::filesystem::path& dir, const HubYaml& y)
    : dir_(dir), port_(free_port()), metrics_port_(y.metrics ? free_port() : 0) {
  std::filesystem::create_directories(dir_);
  std::string text = "hub:\n  listen: 127.0.0.1:" + std::to_string(port_) +
                     "\n  id: test-hub\n  shutdown_grace_ms: 10000\n" + y.hub_extra +
                     "kafka:\n  bootstrap_servers: " + y.bootstrap +
                     "\n  default_topic: " + y.default_topic + "\n" + y.kafka_extra +
                     "metrics:\n  listen: \"" +
                     (y.metrics ? "127.0.0.1:" + std::to_string(metrics_port_) : std::string()) +
                     "\"\n" + y.top_extra + "log:\n  level: info\n  format: " + y.log_format + "\n";
  write_file(config(), text);
}

void HubProcess::start() {
  proc_ = std::make_unique<Process>(
      std::vector<std::string>{bin("cloud-hub"), "run", "--config", config().string()}, log());
  if (!wait_until([&] { return port_open(port_) || !proc_->alive(); }, std::chrono::seconds(15)) ||
      !proc_->alive()) {
    throw std::runtime_error("cloud-hub did not start: " + proc_->log_tail());
  }
}

double HubProcess::metric(const std::string& name) {
  auto [code, body] = http_get(metrics_port_, "/metrics");
  if (code != 200) return -1;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > name.size() && line.compare(0, name.size(), name) == 0 &&
        line[name.size()] == ' ') {
      return std::stod(line.substr(name.size() + 1));
    }
  }
  return -1;
}

double HubProcess::metric_sum(const std::string& prefix) {
  auto [code, body] = http_get(metrics_port_, "/metrics");
  if (code != 200) return -1;
  std::istringstream in(body);
  double sum = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, prefix.size(), prefix) == 0) {
      sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return sum;
}

SeqReport check_seqs(const std::vector<KafkaRecord>& recs, const std::string& agent,
                     std::uint64_t committed) {
  SeqReport r;
  std::set<std::uint64_t> seqs;
  for (const auto& k : recs) {
    auto a = k.headers.find("edgesync-agent");
    auto s = k.headers.find("edgesync-seq");
    if (a == k.headers.end() || a->second != agent || s == k.headers.end()) continue;
    ++r.records;
    const auto seq = std::stoull(s->second);
    if (seq > committed) ++r.beyond;
    seqs.insert(seq);
  }
  r.distinct = seqs.size();
  r.duplicates = r.records - r.distinct;
  for (std::uint64_t s = 1; s <= committed; ++s) r.gaps += seqs.count(s) ? 0 : 1;
  return r;
}

void write_agent_config(Agent& a, const AgentOptions& o, const std::string& uplink_extra) {
  write_file(a.config(),
             "agent:\n  id: " + o.agent_id + "\nmqtt:\n  uri: " + o.mqtt_uri +
                 "\n  topics: [\"sensors/#\", \"alerts/#\"]\nbuffer:\n  path: " + a.db().string() +
                 "\n  commit_window_records: " + std::to_string(o.commit_window) +
                 "\nuplink:\n  hub: " + o.hub +
                 "\n  backoff_initial_ms: 100\n  backoff_max_ms: 1000\n" + uplink_extra +
                 "metrics:\n  listen: \"" + a.metrics_listen() + "\"\n");
}

}  // namespace edgesync::test
