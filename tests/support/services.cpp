#include <unistd.h>

#include "services.hpp"

#include <librdkafka/rdkafkacpp.h>

#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <thread>

namespace edgesync::test {

Mosquitto::Mosquitto(const std::filesystem::path& dir, int port, bool persistent)
    : dir_(dir), port_(port ? port : free_port()) {
  std::filesystem::create_directories(dir_);
  write_file(dir_ / "mosquitto.conf",
             "listener " + std::to_string(port_) +
                 " 127.0.0.1\n"
                 "allow_anonymous true\nmax_queued_messages 1000000\nmax_inflight_messages 1000\n" +
                 (persistent ? "persistence true\npersistence_location " + dir_.string() + "/\n"
                             : std::string("persistence false\n")) +
                 // As root, mosquitto drops to its own user, which cannot save its database when
                 // a parent of dir_ is private (a checkout under `mktemp -d`, 0700): persistence
                 // then fails silently at every restart and queued messages are lost.
                 (::geteuid() == 0 ? "user root\n" : ""));
  // Started as root, mosquitto drops to its own user: it must be able to save its database.
  if (persistent) {
    std::filesystem::permissions(dir_, std::filesystem::perms::all,
                                 std::filesystem::perm_options::add);
  }
  start();
}

void Mosquitto::start() {
  proc_ = std::make_unique<Process>(
      std::vector<std::string>{"mosquitto", "-c", (dir_ / "mosquitto.conf").string()},
      dir_ / "mosquitto.log");
  if (!wait_until([&] { return port_open(port_); }, std::chrono::seconds(10))) {
    throw std::runtime_error("mosquitto did not start: " + proc_->log_tail());
  }
}

void Mosquitto::restart() {
  if (proc_) proc_->stop();
  proc_.reset();
  start();
}

std::string kafka_bootstrap() {
  const std::string file =
      env_or("EDGESYNC_KAFKA_BOOTSTRAP_FILE", EDGESYNC_KAFKA_BOOTSTRAP_FILE_DEFAULT);
  std::string s = read_file(file);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  if (s.empty()) {
    throw std::runtime_error("no Kafka broker: " + file +
                             " is empty or missing (run through ctest, whose kafka/start fixture "
                             "starts one, or point EDGESYNC_KAFKA_BOOTSTRAP_FILE at a file)");
  }
  return s;
}

std::string unique_topic(const std::string& base) {
  std::random_device rd;
  return base + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
}

std::vector<KafkaRecord> read_topic(const std::string& topic, std::size_t expected,
                                    std::chrono::milliseconds timeout,
                                    std::chrono::milliseconds idle) {
  return read_topic_from(kafka_bootstrap(), topic, expected, timeout, idle);
}

std::vector<KafkaRecord> read_topic_from(const std::string& bootstrap, const std::string& topic,
                                         std::size_t expected, std::chrono::milliseconds timeout,
                                         std::chrono::milliseconds idle) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  conf->set("bootstrap.servers", bootstrap, err);
  conf->set("group.id", unique_topic("reader"), err);
  conf->set("auto.offset.reset", "earliest", err);
  conf->set("enable.auto.commit", "false", err);
  conf->set("topic.metadata.refresh.interval.ms", "1000", err);
  conf->set("isolation.level", "read_committed", err);
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c) throw std::runtime_error("consumer: " + err);
  c->subscribe({topic});
  std::vector<KafkaRecord> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto last = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<RdKafka::Message> m(c->consume(200));
    if (m->err() == RdKafka::ERR_NO_ERROR) {
      KafkaRecord r;
      if (m->key()) r.key = *m->key();
      r.value.assign(static_cast<const char*>(m->payload()), m->len());
      if (auto* hs = m->headers()) {
        for (const auto& h : hs->get_all()) {
          r.headers[h.key()] = std::string(static_cast<const char*>(h.value()), h.value_size());
        }
      }
      r.partition = m->partition();
      r.offset = m->offset();
      out.push_back(std::move(r));
      last = std::chrono::steady_clock::now();
    } else if (out.size() >= expected && std::chrono::steady_clock::now() - last > idle) {
      break;
    }
  }
  c->close();
  return out;
}

Hub::Hub(const std::filesystem::path& dir, const HubOptions& o, int port)
    : dir_(dir), port_(port ? port : free_port()) {
  std::filesystem::create_directories(dir_);
  write_file(dir_ / "hub.yaml", "hub:\n  listen: 127.0.0.1:" + std::to_string(port_) +
                                    "\n  id: test-hub\n  shutdown_grace_ms: 10000\n"
                                    "kafka:\n  bootstrap_servers: " +
                                    o.bootstrap + "\n  default_topic: " + o.default_topic + "\n" +
                                    o.extra_yaml +
                                    "\nmetrics:\n  listen: \"\"\nlog:\n  level: info\n");
}

void Hub::start() {
  proc_ = std::make_unique<Process>(
      std::vector<std::string>{bin("cloud-hub"), "run", "--config", (dir_ / "hub.yaml").string()},
      dir_ / "hub.log");
  if (!wait_until([&] { return port_open(port_) || !proc_->alive(); }, std::chrono::seconds(15)) ||
      !proc_->alive()) {
    throw std::runtime_error("cloud-hub did not start: " + proc_->log_tail());
  }
}

Agent::Agent(const std::filesystem::path& dir, AgentOptions o) : dir_(dir), opts_(std::move(o)) {
  std::filesystem::create_directories(dir_);
  if (opts_.metrics_port == 0) opts_.metrics_port = free_port();
  write_file(config(),
             "agent:\n  id: " + opts_.agent_id + "\nmqtt:\n  uri: " + opts_.mqtt_uri +
                 "\n  topics: [\"sensors/#\", \"alerts/#\"]\nbuffer:\n  path: " + db().string() +
                 "\n  commit_window_records: " + std::to_string(opts_.commit_window) +
                 "\nuplink:\n  hub: " + opts_.hub +
                 "\n  backoff_initial_ms: 100\n  backoff_max_ms: 1000\n" + opts_.uplink_yaml +
                 "metrics:\n  listen: \"" + metrics_listen() + "\"\n" + opts_.extra_yaml + "\n");
}

void Agent::start() {
  proc_ = std::make_unique<Process>(
      std::vector<std::string>{bin("edge-agent"), "run", "--config", config().string()},
      dir_ / "agent.log");
}

std::size_t count_in(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

std::string agent_id(const std::string& base) {
  return base + "-" + std::to_string(::getpid());
}

bool Agent::wait_subscribed(std::size_t times, std::chrono::milliseconds timeout) {
  constexpr std::size_t kFilters = 2;  // sensors/# and alerts/#, as the configs here subscribe
  const auto want = static_cast<double>(times * kFilters);
  return wait_until([&] { return metric("edgesync_agent_mqtt_subscriptions_total") >= want; },
                    timeout);
}

double Agent::metric(const std::string& name) {
  const auto [code, body] = http_get(opts_.metrics_port, "/metrics");
  if (code != 200) return -1;
  const auto pos = body.find("\n" + name + " ");
  return pos == std::string::npos ? -1 : std::stod(body.substr(pos + name.size() + 2));
}

nlohmann::json buffer_status_json(const std::filesystem::path& db) {
  auto [rc, out] =
      run_capture({bin("edge-agent"), "buffer", "status", "--db", db.string(), "--json"},
                  std::chrono::seconds(30));
  if (rc != 0) throw std::runtime_error("buffer status failed: " + out);
  return nlohmann::json::parse(out.substr(out.find('{')));
}

Agent::Status Agent::status() {
  const auto j = buffer_status_json(db());
  return Status{j.at("records").get<std::uint64_t>(), j.at("next_seq").get<std::uint64_t>()};
}

namespace {
std::vector<std::string> sim_argv(const std::string& uri, const std::vector<std::string>& args) {
  std::vector<std::string> argv{bin("sensor-sim"), "--uri", uri, "--quiet"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}
}  // namespace

SimResult sim_result(const std::filesystem::path& log) {
  const std::string text = read_file(log);
  auto pos = text.rfind("{\"published\"");
  if (pos == std::string::npos) throw std::runtime_error("sensor-sim printed no summary: " + text);
  auto j = nlohmann::json::parse(text.substr(pos, text.find('\n', pos) - pos));
  return SimResult{j["published"].get<std::uint64_t>(), j["acked"].get<std::uint64_t>(),
                   j["failed"].get<std::uint64_t>(), j["seconds"].get<double>(),
                   j["rate"].get<double>()};
}

std::unique_ptr<Process> start_sim(const std::string& uri, const std::vector<std::string>& args,
                                   const std::filesystem::path& log) {
  return std::make_unique<Process>(sim_argv(uri, args), log);
}

SimResult run_sim(const std::string& uri, const std::vector<std::string>& args) {
  auto [rc, out] = run_capture(sim_argv(uri, args), std::chrono::minutes(5));
  if (rc != 0) throw std::runtime_error("sensor-sim failed (" + std::to_string(rc) + "): " + out);
  auto tmp = make_temp_dir("sim") / "sim.log";
  write_file(tmp, out);
  return sim_result(tmp);
}

}  // namespace edgesync::test
