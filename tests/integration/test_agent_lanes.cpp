// Priority lanes against real Mosquitto, a real hub and real Kafka: with the hub down the
// default lane buffers 200,000 telemetry records; the hub comes up and an alert published at
// that moment (mosquitto_pub) is durable in Kafka (acked) while the agent still holds part of the
// backlog. Both lanes then deliver every record, told apart in Kafka by their buffer ids.
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
  run_sim(mq.uri(),
          {"--devices", "20", "--count", "10000", "--size", "200", "--connections", "4", "-q"});
  REQUIRE_MESSAGE(wait_until([&] { return agent.status().next_seq == kBacklog + 1; }, 120s),
                  "the default lane did not buffer the backlog: " << agent.log_tail());
  CHECK(buffer_status_json(alerts_db)["records"] == 0);

  hub.start();
  const auto t0 = std::chrono::steady_clock::now();
  const auto pub = run_capture({"mosquitto_pub", "-p", std::to_string(mq.port()), "-q", "1", "-t",
                                "alerts/dev-a/fire", "-m", "{\"alarm\":\"smoke\"}"},
                               30s);
  REQUIRE_MESSAGE(pub.first == 0, pub.second);
  // The alert's lane acked = durable in Kafka (the hub acks only what Kafka confirmed). At that
  // moment the default lane must still hold part of the backlog: the alert overtook it.
  REQUIRE_MESSAGE(wait_until(
                      [&] {
                        const auto st = buffer_status_json(alerts_db);
                        return st["next_seq"] == 2 && st["records"] == 0;
                      },
                      120s),
                  agent.log_tail());
  const auto alert_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  const auto left = agent.status().records;
  CHECK_MESSAGE(wait_until([&] { return agent.status().records == 0; }, 180s), agent.log_tail());
  const auto drain_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  MESSAGE("lanes: the alert was durable in Kafka within " << alert_ms
                                                          << " ms of the hub coming up (publish "
                                                             "included, polled), with "
                                                          << left << " of " << kBacklog
                                                          << " telemetry records still in the "
                                                             "agent; the backlog took "
                                                          << drain_ms << " ms");
  CHECK(left > 0);

  auto recs = read_topic(topic, kBacklog + 1, 180s);
  // Telemetry: one buffer, seqs 1..200000; the alert: the lane's own buffer, seq 1.
  std::vector<KafkaRecord> telemetry, alerts;
  for (const auto& r : recs) {
    if (r.headers.at("edgesync-agent") != id) continue;
    (r.headers.at("mqtt-topic").starts_with("alerts/") ? alerts : telemetry).push_back(r);
  }
  REQUIRE(alerts.size() == 1);
  const auto& alert = alerts.front();
  CHECK(alert.headers.at("edgesync-seq") == "1");
  CHECK(alert.value == "{\"alarm\":\"smoke\"}");
  CHECK(alert.headers.at("edgesync-buffer") ==
        buffer_status_json(alerts_db)["buffer_id"].get<std::string>());
  std::set<std::string> telemetry_buffers;
  for (const auto& r : telemetry) telemetry_buffers.insert(r.headers.at("edgesync-buffer"));
  const auto rep = check_seqs(telemetry, id, kBacklog);
  MESSAGE("kafka: telemetry " << rep.distinct << " distinct, " << rep.gaps << " gaps, "
                              << rep.duplicates << " duplicates");
  CHECK(rep.gaps == 0);
  CHECK(rep.beyond == 0);
  CHECK(telemetry_buffers.size() == 1);
  CHECK(telemetry_buffers.count(alert.headers.at("edgesync-buffer")) == 0);
  CHECK(agent.stop() == 0);
}
