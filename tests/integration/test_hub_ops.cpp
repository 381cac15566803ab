// cloud-hub for operators, against real servers: real Mosquitto, real Kafka brokers (the shared
// ctest fixture, or one started by the test itself when it must be stopped), the real binaries.
#include <doctest/doctest.h>
#include <unistd.h>

#include <csignal>

#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "hub_support.hpp"
#include "services.hpp"

using namespace edgesync::test;
using namespace std::chrono_literals;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("hub serves healthz readyz and Prometheus metrics and logs valid JSON lines") {
  auto dir = make_temp_dir("hub-metrics");
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("telemetry");
  HubYaml y{kafka_bootstrap(), topic};
  y.log_format = "json";
  HubProcess hub(dir / "hub", y);
  hub.start();
  REQUIRE(wait_until([&] { return http_get(hub.metrics_port(), "/healthz").first == 200; }, 10s));
  REQUIRE_MESSAGE(
      wait_until([&] { return http_get(hub.metrics_port(), "/readyz").first == 200; }, 30s),
      http_get(hub.metrics_port(), "/readyz").second);

  const auto id = agent_id("gw-metrics");
  Agent agent(dir / "agent", {id, mq.uri(), hub.address(), "", 256});
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());
  auto sim = run_sim(mq.uri(), {"--devices", "4", "--count", "500"});
  REQUIRE(sim.acked == 2000);
  auto recs = read_topic(topic, 2000, 120s);
  CHECK(recs.size() == 2000);
  REQUIRE(wait_until([&] { return agent.status().records == 0; }, 30s));

  CHECK(hub.metric("edgesync_hub_streams_open") == 1);
  CHECK(hub.metric("edgesync_hub_records_in_total") == 2000);
  CHECK(wait_until([&] { return hub.metric("edgesync_hub_records_out_total") == 2000; }, 10s));
  const double batches = hub.metric("edgesync_hub_delivery_latency_seconds_count");
  CHECK(batches >= 1);  // observed once per batch, when its last record is confirmed
  CHECK(batches <= 2000);
  CHECK(hub.metric("edgesync_hub_acks_sent_total") >= 1);
  CHECK(hub.metric("edgesync_hub_ready") == 1);
  const double sum = hub.metric("edgesync_hub_delivery_latency_seconds_sum");
  MESSAGE("mean produce->durable latency: " << (sum / batches) * 1000.0 << " ms over " << batches
                                            << " batches");

  CHECK(agent.stop() == 0);
  CHECK(hub.stop() == 0);
  // Every line the hub wrote is one JSON object.
  std::istringstream log(read_file(hub.log()));
  std::size_t lines = 0, bad_lines = 0;
  for (std::string line; std::getline(log, line);) {
    if (line.empty()) continue;
    ++lines;
    try {
      auto j = nlohmann::json::parse(line);
      if (!j.contains("msg") || !j.contains("level") || !j.contains("ts")) ++bad_lines;
    } catch (const std::exception&) {
      ++bad_lines;
      MESSAGE("not JSON: " << line);
    }
  }
  CHECK(lines > 5);
  CHECK(bad_lines == 0);
}

TEST_CASE("readyz is 503 while Kafka is unreachable") {
  auto dir = make_temp_dir("hub-unready");
  HubYaml y{"127.0.0.1:" + std::to_string(free_port()), unique_topic("telemetry")};
  y.kafka_extra = "  health_check_ms: 500\n";
  HubProcess hub(dir / "hub", y);
  hub.start();
  REQUIRE(wait_until([&] { return http_get(hub.metrics_port(), "/healthz").first == 200; }, 10s));
  std::this_thread::sleep_for(2s);
  auto [code, body] = http_get(hub.metrics_port(), "/readyz");
  CHECK(code == 503);
  MESSAGE("readyz: " << body);
  CHECK(hub.metric("edgesync_hub_ready") == 0);
  CHECK(hub.stop() == 0);
}

TEST_CASE("Kafka broker stopped for 15 s mid-stream loses no committed record") {
  auto dir = make_temp_dir("hub-outage");
  DedicatedKafka kafka(dir / "kafka");
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("telemetry");
  HubYaml y{kafka.bootstrap(), topic};
  y.hub_extra = "  max_inflight_records_total: 300\n  slow_down_ms: 500\n";
  y.kafka_extra = "  health_check_ms: 1000\n";
  HubProcess hub(dir / "hub", y);
  hub.start();
  REQUIRE(wait_until([&] { return http_get(hub.metrics_port(), "/readyz").first == 200; }, 30s));
  const auto id = agent_id("gw-outage");
  Agent agent(dir / "agent", {id, mq.uri(), hub.address(), "", 256});
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());

  // 15,000 messages at 500/s: about 30 s, with the broker down from ~10 s to ~25 s.
  auto sim =
      start_sim(mq.uri(), {"--devices", "10", "--count", "1500", "--rate", "500"}, dir / "sim.log");
  std::this_thread::sleep_for(10s);
  const double before_stop = hub.metric("edgesync_hub_records_out_total");
  const auto stopped_at = std::chrono::steady_clock::now();
  kafka.stop();
  MESSAGE("broker stopped after " << before_stop << " records confirmed");
  CHECK(wait_until([&] { return http_get(hub.metrics_port(), "/readyz").first == 503; }, 20s));
  const double not_ready_after = seconds_since(stopped_at);
  std::this_thread::sleep_for(
      std::chrono::duration<double>(std::max(0.0, 15.0 - seconds_since(stopped_at))));
  const double out_during = hub.metric("edgesync_hub_records_out_total") - before_stop;
  const double in_flight = hub.metric("edgesync_hub_kafka_in_flight");
  const double slow_downs = hub.metric("edgesync_hub_slow_downs_sent_total");
  const auto buffered = agent.status().records;
  kafka.start();
  const auto restarted_at = std::chrono::steady_clock::now();
  CHECK(wait_until([&] { return http_get(hub.metrics_port(), "/readyz").first == 200; }, 60s));
  const double ready_after = seconds_since(restarted_at);

  REQUIRE(sim->wait(180s) == 0);
  const auto published = sim_result(dir / "sim.log");
  REQUIRE(published.acked == 15000);
  REQUIRE_MESSAGE(wait_until([&] { return agent.status().records == 0; }, 180s), agent.log_tail());
  const double drained_after = seconds_since(restarted_at);
  const auto st = agent.status();
  const std::uint64_t committed = st.next_seq - 1;
  auto recs = read_topic_from(kafka.bootstrap(), topic, committed, 180s, 3s);
  const auto rep = check_seqs(recs, id, committed);
  MESSAGE("kafka outage: committed="
          << committed << " in_kafka=" << rep.records << " gaps=" << rep.gaps
          << " duplicates=" << rep.duplicates
          << " | during the 15 s outage: confirmed=" << out_during << " hub_in_flight=" << in_flight
          << " (bound 300) agent_buffered=" << buffered << " slow_downs=" << slow_downs
          << " | readyz 503 after " << not_ready_after << " s, 200 again " << ready_after
          << " s after restart, agent buffer empty " << drained_after << " s after restart"
          << " | kafka errors=" << hub.metric_sum("edgesync_hub_kafka_errors_total")
          << " hub duplicates skipped=" << hub.metric("edgesync_hub_duplicates_skipped_total"));
  CHECK(rep.gaps == 0);
  CHECK(rep.distinct == committed);
  CHECK(rep.beyond == 0);
  // The hub stops reading at the bound; the one batch read when it was reached is produced
  // whole, so the bound holds within one batch (uplink.batch_max_records, 500).
  CHECK(in_flight < 300 + 500);
  CHECK(in_flight >= 300);  // and it was reached: the outage held the hub at its bound
  CHECK(slow_downs >= 1);
  CHECK(hub.alive());  // no restart needed
  CHECK(agent.stop() == 0);
  CHECK(hub.stop() == 0);
}

TEST_CASE(
    "SIGTERM to the hub during load loses nothing and the hub exits within the grace period") {
  auto dir = make_temp_dir("hub-sigterm");
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("telemetry");
  HubYaml y{kafka_bootstrap(), topic};  // hub.shutdown_grace_ms: 10000
  HubProcess hub(dir / "hub", y);
  hub.start();
  const auto id = agent_id("gw-sigterm");
  Agent agent(dir / "agent", {id, mq.uri(), hub.address(), "", 256});
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());

  // 12,000 messages at 2,000/s; SIGTERM to the hub after 2 s, restart it 2 s later.
  auto sim = start_sim(mq.uri(), {"--devices", "10", "--count", "1200", "--rate", "2000"},
                       dir / "sim.log");
  std::this_thread::sleep_for(2s);
  const double in_before = hub.metric("edgesync_hub_records_in_total");
  const auto t0 = std::chrono::steady_clock::now();
  hub.process().signal(SIGTERM);
  const int rc = hub.process().wait(60s);
  const double exit_s = seconds_since(t0);
  CHECK(rc == 0);
  hub.stop();
  std::this_thread::sleep_for(2s);
  hub.start();

  REQUIRE(sim->wait(120s) == 0);
  REQUIRE(sim_result(dir / "sim.log").acked == 12000);
  REQUIRE_MESSAGE(wait_until([&] { return agent.status().records == 0; }, 120s), agent.log_tail());
  const std::uint64_t committed = agent.status().next_seq - 1;
  auto recs = read_topic(topic, committed, 120s, 3s);
  const auto rep = check_seqs(recs, id, committed);
  const std::string log = read_file(hub.log());
  MESSAGE("SIGTERM under load: records in before the signal="
          << in_before << " exit after " << exit_s << " s (grace 10 s) rc=" << rc
          << " committed=" << committed << " in_kafka=" << rep.records << " gaps=" << rep.gaps
          << " duplicates=" << rep.duplicates);
  CHECK(rep.gaps == 0);
  CHECK(rep.distinct == committed);
  CHECK(rep.beyond == 0);
  CHECK(count_in(log, "cloud-hub: stopped;") >= 1);
  CHECK(agent.stop() == 0);
  CHECK(hub.stop() == 0);
}
