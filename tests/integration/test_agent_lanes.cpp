// Priority lanes against real Mosquitto, a real hub and real Kafka: with the hub down the
// default lane buffers 200,000 telemetry records; the hub comes up and an alert published at
// that moment (mosquitto_pub) is durable in Kafka while most of the backlog is still in the
// agent. Both lanes then deliver every record once per (buffer, seq), told apart by buffer id.
#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <thread>
#include <tuple>

#include <nlohmann/json.hpp>

#include "hub_support.hpp"
#include "services.hpp"

using namespace edgesync::test;
using namespace std::chrono_literals;

namespace {

nlohmann::json status_json(const std::filesystem::path& db) {
  int rc = 0;
  std::string out;
  std::tie(rc, out) =
      run_capture({bin("edge-agent"), "buffer", "status", "--db", db.string(), "--json"}, 30s);
  REQUIRE_MESSAGE(rc == 0, out);
  return nlohmann::json::parse(out.substr(out.find('{')));
}

constexpr const char* kLanes =
    "lanes:\n"
    "  - name: alerts\n"
    "    topics: [\"alerts/#\"]\n"
    "    priority: 0\n";

}  // namespace

TEST_CASE("an alert overtakes a 200,000-record backlog (priority lanes)") {
  auto dir = make_temp_dir("lanes");
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("lanes");
  Hub hub(dir / "hub", {kafka_bootstrap(), topic, ""});  // down while the backlog builds up
  const auto id = agent_id("gw-lanes");
  Agent agent(dir / "agent", {id, mq.uri(), hub.address(), kLanes, 256, 0});
  const auto alerts_db = dir / "agent" / "buffer.alerts.db";
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());

  constexpr std::uint64_t kBacklog = 200000;
  run_sim(mq.uri(), {"--devices", "20", "--count", "10000", "--size", "200", "-q"});
  REQUIRE_MESSAGE(wait_until([&] { return agent.status().next_seq == kBacklog + 1; }, 120s),
                  "the default lane did not buffer the backlog: " << agent.log_tail());
  CHECK(status_json(alerts_db)["records"] == 0);

  hub.start();
  const auto published_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  const auto pub = run_capture({"mosquitto_pub", "-p", std::to_string(mq.port()), "-q", "1", "-t",
                                "alerts/dev-a/fire", "-m", "{\"alarm\":\"smoke\"}"},
                               30s);
  REQUIRE_MESSAGE(pub.first == 0, pub.second);
  // Acked by the hub = durable in Kafka; the agent still holds most of the backlog then.
  REQUIRE_MESSAGE(wait_until(
                      [&] {
                        const auto st = status_json(alerts_db);
                        return st["next_seq"] == 2 && st["records"] == 0;
                      },
                      120s),
                  agent.log_tail());
  const auto left_when_alert_acked = agent.status().records;

  CHECK_MESSAGE(wait_until([&] { return agent.status().records == 0; }, 180s), agent.log_tail());
  auto recs = read_topic(topic, kBacklog + 1, 180s);
  // Telemetry: one buffer, seqs 1..200000; the alert: another buffer (the lane's), seq 1.
  std::vector<KafkaRecord> telemetry;
  std::set<std::string> telemetry_buffers;
  std::vector<KafkaRecord> alerts;
  for (const auto& r : recs) {
    if (r.headers.at("edgesync-agent") != id) continue;
    if (r.headers.at("edgesync-topic").starts_with("alerts/")) {
      alerts.push_back(r);
    } else {
      telemetry_buffers.insert(r.headers.at("edgesync-buffer"));
      telemetry.push_back(r);
    }
  }
  REQUIRE(alerts.size() == 1);
  const auto& alert = alerts.front();
  CHECK(alert.headers.at("edgesync-seq") == "1");
  CHECK(alert.value == "{\"alarm\":\"smoke\"}");
  CHECK(alert.headers.at("edgesync-buffer") ==
        status_json(alerts_db)["buffer_id"].get<std::string>());
  std::uint64_t after_alert = 0;
  std::int64_t last_telemetry_ms = 0;
  for (const auto& r : telemetry) {
    if (r.timestamp_ms > alert.timestamp_ms) ++after_alert;
    last_telemetry_ms = std::max(last_telemetry_ms, r.timestamp_ms);
  }
  const auto rep = check_seqs(telemetry, id, kBacklog);
  MESSAGE("lanes: alert in Kafka "
          << alert.timestamp_ms - published_ms << " ms after it was published (hub just up), "
          << after_alert << " of " << kBacklog
          << " backlog records written after it, backlog through "
          << last_telemetry_ms - published_ms << " ms after; the agent "
          << "held " << left_when_alert_acked << " when it saw the alert's ack");
  MESSAGE("kafka: telemetry " << rep.distinct << " distinct, " << rep.gaps << " gaps, "
                              << rep.duplicates << " duplicates");
  CHECK(after_alert > 0);  // in Kafka before the backlog was through
  CHECK(alert.timestamp_ms < last_telemetry_ms);
  CHECK(rep.gaps == 0);
  CHECK(rep.beyond == 0);
  CHECK(telemetry_buffers.size() == 1);
  CHECK(telemetry_buffers.count(alert.headers.at("edgesync-buffer")) == 0);
  CHECK(agent.stop() == 0);
}
