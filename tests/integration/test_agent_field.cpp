// The agent in the field, against a real Mosquitto (no hub needed: records stay buffered).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <thread>
#include <tuple>

#include "buffer/sqlite.hpp"
#include "mqtt_publish.hpp"
#include "payload.hpp"
#include "services.hpp"
#include "tls_certs.hpp"

using namespace edgesync::test;
using namespace std::chrono_literals;

namespace {

double metric(const std::string& text, const std::string& name) {
  auto pos = text.find("\n" + name + " ");
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + name.size() + 2));
}

}  // namespace

TEST_CASE("messages published while the agent is down arrive through the persistent session") {
  auto dir = make_temp_dir("session");
  Mosquitto mq(dir / "mqtt");
  Agent agent(dir / "agent", {agent_id("gw-sess"), mq.uri(), "127.0.0.1:1", "", 256});
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());
  run_sim(mq.uri(), {"--devices", "2", "--count", "100"});
  CHECK(wait_until([&] { return agent.status().records == 200; }, 30s));
  CHECK(agent.stop() == 0);  // graceful: session stays on the broker

  auto sim = run_sim(mq.uri(), {"--devices", "2", "--count", "500", "--start", "100"});
  REQUIRE(sim.acked == 1000);  // the broker queued them for the agent's session
  agent.start();
  CHECK_MESSAGE(wait_until([&] { return agent.status().records == 1200; }, 30s),
                "records: " << agent.status().records);
  CHECK(agent.status().next_seq == 1201);
}

TEST_CASE(
    "a buffer file every write fails on: the agent exits 75, the next start moves it aside, the "
    "broker redelivers") {
  auto dir = make_temp_dir("failed-file");
  Mosquitto mq(dir / "mqtt");
  Agent agent(dir / "agent", {agent_id("gw-fail"), mq.uri(), "127.0.0.1:1", "", 256});
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());
  publish(mq.uri(), "sensors/dev-f/t", {"a", "b", "c"});
  REQUIRE(wait_until([&] { return agent.status().records == 3; }, 30s));
  REQUIRE(agent.stop() == 0);
  {
    // Sound to quick_check, yet no insert can succeed (a hand-edited or foreign file).
    edgesync::agent::sqlite::Db db(agent.db().string(), SQLITE_OPEN_READWRITE);
    db.exec("CREATE TRIGGER refuse BEFORE INSERT ON records BEGIN SELECT RAISE(ABORT, 'no'); END");
  }
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());       // counted per run
  publish(mq.uri(), "sensors/dev-f/t", {"1", "2", "3", "4", "5"});  // PUBACKed by the broker
  CHECK_MESSAGE(wait_until([&] { return !agent.running(); }, 30s), agent.log_tail());
  CHECK(agent.stop() == 75);
  CHECK(agent.log_tail().find("failed for good") != std::string::npos);
  CHECK(std::filesystem::exists(agent.db().string() + ".damaged"));

  agent.start();  // the same config: the file is moved aside, the session's messages come again
  const auto records = [&]() -> std::uint64_t {
    try {
      return agent.status().records;
    } catch (const std::exception&) {
      return 0;  // the new file between its creation and its schema
    }
  };
  CHECK_MESSAGE(wait_until([&] { return records() == 5; }, 30s), "records: " << records() << "\n"
                                                                             << agent.log_tail());
  CHECK_FALSE(std::filesystem::exists(agent.db().string() + ".damaged"));
  int quarantined = 0;
  for (const auto& e : std::filesystem::directory_iterator(agent.db().parent_path())) {
    if (e.path().filename().string().starts_with("buffer.db.corrupt-") &&
        e.path().extension() != ".db-wal" && e.path().string().find("-wal") == std::string::npos &&
        e.path().string().find("-shm") == std::string::npos) {
      ++quarantined;
    }
  }
  CHECK(quarantined == 1);
  CHECK(agent.stop() == 0);
}

TEST_CASE("oversized messages are dropped and counted and binary payloads are kept byte-exact") {
  auto dir = make_temp_dir("payloads");
  Mosquitto mq(dir / "mqtt");
  const int mport = free_port();
  Agent agent(dir / "agent", {agent_id("gw-pay"), mq.uri(), "127.0.0.1:1", "", 256, mport});
  // mqtt.max_payload_bytes is appended to the generated config through a second file: rewrite it.
  auto cfg = read_file(agent.config());
  cfg.replace(cfg.find("mqtt:\n"), 6, "mqtt:\n  max_payload_bytes: 1000\n");
  write_file(agent.config(), cfg);
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  publish(mq.uri(), "sensors/dev-b/raw",
          {binary, std::string(5000, 'x'), std::string(1000, 'y'), ""});
  CHECK(wait_until([&] { return agent.status().records == 3; }, 30s));
  // Both places say it: the persisted counter (`buffer status`) and /metrics.
  CHECK(wait_until(
      [&] {
        return metric(http_get(mport, "/metrics").second,
                      "edgesync_agent_records_dropped_total{reason=\"oversize\"}") == 1;
      },
      10s));
  CHECK(buffer_status_json(agent.db())["dropped"]["oversize"] == 1);
  CHECK(agent.log_tail().find("topic 'sensors/dev-b/raw'") != std::string::npos);
  // The stored bytes, read back through the CLI export (base64 for non-UTF-8), are exact.
  auto [rc, out] = run_capture(
      {bin("edge-agent"), "buffer", "export", "--db", agent.db().string(), "--format", "jsonl"});
  REQUIRE(rc == 0);
  std::vector<nlohmann::json> rows;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == '{') rows.push_back(nlohmann::json::parse(line));
  }
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].contains("payload_b64"));
  CHECK(rows[1]["payload"].get<std::string>() == std::string(1000, 'y'));
  CHECK(rows[2]["payload"].get<std::string>().empty());
}

TEST_CASE("metrics and health endpoints report a known workload") {
  auto dir = make_temp_dir("metrics");
  Mosquitto mq(dir / "mqtt");
  const int mport = free_port();
  Agent agent(dir / "agent", {agent_id("gw-met"), mq.uri(), "127.0.0.1:1", "", 256, mport});
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());
  CHECK(wait_until([&] { return http_get(mport, "/readyz").first == 200; }, 10s));
  CHECK(http_get(mport, "/healthz").first == 200);
  run_sim(mq.uri(), {"--devices", "5", "--count", "100", "--size", "150"});
  std::string m;
  CHECK(wait_until(
      [&] {
        m = http_get(mport, "/metrics").second;
        return metric(m, "edgesync_agent_records_committed_total") == 500;
      },
      15s));
  CHECK(metric(m, "edgesync_agent_mqtt_messages_received_total") == 500);
  CHECK(metric(m, "edgesync_agent_buffer_records") == 500);
  CHECK(metric(m, "edgesync_agent_buffer_bytes") >= 500 * 150);
  CHECK(metric(m, "edgesync_agent_mqtt_connected") == 1);
  CHECK(metric(m, "edgesync_agent_hub_connected") == 0);
  CHECK(metric(m, "edgesync_agent_records_acked_total") == 0);
  // The state snapshot for field techs says where things stand.
  CHECK(wait_until(
      [&] {
        return buffer_status_json(agent.db()).dump().find("disconnected") != std::string::npos;
      },
      10s));
  // Broker gone: not ready (alive all the same).
  mq.stop();
  CHECK(wait_until([&] { return http_get(mport, "/readyz").first == 503; }, 30s));
  CHECK(http_get(mport, "/healthz").first == 200);
}

TEST_CASE("the agent reaches a TLS broker with a client certificate and a password from a file") {
  auto dir = make_temp_dir("mqtt-tls");
  edgesync::test::TestPki pki(dir / "pki");
  const auto client = pki.agent("gw-tls");
  const int port = free_port();
  write_file(dir / "passwd", "");
  REQUIRE(run_capture({"mosquitto_passwd", "-b", (dir / "passwd").string(), "gateway", "s3cret!"})
              .first == 0);
  write_file(dir / "mosquitto.conf",
             "listener " + std::to_string(port) +
                 " 127.0.0.1\n"
                 "cafile " +
                 pki.ca().string() + "\ncertfile " + pki.server().cert.string() + "\nkeyfile " +
                 pki.server().key.string() +
                 "\nrequire_certificate true\n"
                 "allow_anonymous false\npassword_file " +
                 (dir / "passwd").string() +
                 "\n"
                 "user root\n");  // test keys are root-only files; do not drop privileges
  Process broker({"mosquitto", "-c", (dir / "mosquitto.conf").string()}, dir / "mosquitto.log");
  REQUIRE_MESSAGE(wait_until([&] { return port_open(port); }, 10s), broker.log_tail());

  auto run_agent = [&](const std::string& name, const std::string& password) {
    write_file(dir / (name + ".pw"), password + "\n");
    AgentOptions o{agent_id(name), "ssl://127.0.0.1:" + std::to_string(port), "127.0.0.1:1", "",
                   256};
    o.metrics_port = free_port();
    auto a = std::make_unique<Agent>(dir / name, o);
    auto cfg = read_file(a->config());
    cfg.replace(cfg.find("mqtt:\n"), 6,
                "mqtt:\n  username: gateway\n  password_file: " + (dir / (name + ".pw")).string() +
                    "\n  tls:\n    enabled: true\n    ca_file: " + pki.ca().string() +
                    "\n    cert_file: " + client.cert.string() +
                    "\n    key_file: " + client.key.string() + "\n");
    write_file(a->config(), cfg);
    a->start();
    return std::make_pair(std::move(a), o.metrics_port);
  };
  auto good_run = run_agent("gw-tls-ok", "s3cret!");  // no structured binding: lambdas use it
  auto& good = good_run.first;
  const int gport = good_run.second;
  REQUIRE_MESSAGE(wait_until([&] { return http_get(gport, "/readyz").first == 200; }, 30s),
                  good->log_tail());
  int rc = 0;
  std::string out;
  std::tie(rc, out) = run_capture({"mosquitto_pub",
                                   "-h",
                                   "127.0.0.1",
                                   "-p",
                                   std::to_string(port),
                                   "--cafile",
                                   pki.ca().string(),
                                   "--cert",
                                   client.cert.string(),
                                   "--key",
                                   client.key.string(),
                                   "-u",
                                   "gateway",
                                   "-P",
                                   "s3cret!",
                                   "-q",
                                   "1",
                                   "-t",
                                   "sensors/dev-tls/x",
                                   "-m",
                                   "over TLS"});
  REQUIRE_MESSAGE(rc == 0, out);
  CHECK(wait_until([&] { return good->status().records == 1; }, 15s));
  CHECK(good->log_tail().find("s3cret") == std::string::npos);  // the secret is never logged

  auto [bad, bport] = run_agent("gw-tls-bad", "wrong");
  std::this_thread::sleep_for(3s);
  CHECK(http_get(bport, "/readyz").first == 503);  // refused by the broker: not ready
  CHECK(bad->status().records == 0);
}
