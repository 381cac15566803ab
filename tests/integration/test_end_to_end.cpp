// End-to-end against real Mosquitto and a real Apache Kafka broker (ctest fixture "kafka"):
// sensor-sim -> mosquitto -> edge-agent -> cloud-hub -> Kafka, read back with a real consumer.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "fault_proxy.hpp"
#include "payload.hpp"
#include "services.hpp"

using namespace edgesync::test;
using namespace std::chrono_literals;

namespace {

struct Parsed {
  std::string device;
  std::uint64_t n = 0;
};

Parsed parse_payload(const std::string& v) {
  char dev[32] = {};
  unsigned long long n = 0;
  Parsed p;
  if (std::sscanf(v.c_str(), R"({"d":"%31[^"]","n":%llu)", dev, &n) == 2) {
    p.device = dev;
    p.n = n;
  }
  return p;
}

}  // namespace

TEST_CASE("10000 messages from 10 devices arrive in Kafka exactly as published") {
  auto dir = make_temp_dir("e2e");
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("telemetry");
  Hub hub(dir / "hub", {kafka_bootstrap(), topic, ""});
  hub.start();
  const auto id = agent_id("gw-e2e");
  Agent agent(dir / "agent", {id, mq.uri(), hub.address(), "", 256});
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());

  // Devices 0-4 send JSON text, devices 5-9 JSON heads with non-UTF-8 binary padding.
  auto text = run_sim(mq.uri(), {"--devices", "5", "--count", "1000", "--size", "200"});
  auto binary = run_sim(mq.uri(), {"--devices", "5", "--device-offset", "5", "--count", "1000",
                                   "--size", "200", "--binary"});
  REQUIRE(text.acked == 5000);
  REQUIRE(binary.acked == 5000);

  auto recs = read_topic(topic, 10000, 120s);
  REQUIRE(recs.size() == 10000);
  std::set<std::uint64_t> seqs;
  std::map<std::string, std::uint64_t> per_device;
  std::map<std::pair<int, std::string>, std::uint64_t> last_seq_in_partition;
  std::size_t mismatched = 0;
  for (const auto& r : recs) {
    const Parsed p = parse_payload(r.value);
    REQUIRE_MESSAGE(!p.device.empty(), "unparseable payload in Kafka");
    const bool is_binary = std::stoi(p.device.substr(4)) >= 5;
    if (r.value != edgesync::sim::payload_for(p.device, p.n, 200, is_binary)) ++mismatched;
    CHECK(r.key == p.device);
    CHECK(r.headers.at("edgesync-agent") == id);
    CHECK(r.headers.at("mqtt-topic") == "sensors/" + p.device + "/data");
    CHECK(r.headers.count("edgesync-received-ns") == 1);
    const auto seq = std::stoull(r.headers.at("edgesync-seq"));
    seqs.insert(seq);
    per_device[p.device]++;
    // Per device (one key -> one partition), records keep the agent's order.
    auto& last = last_seq_in_partition[{r.partition, p.device}];
    CHECK(seq > last);
    last = seq;
  }
  CHECK(mismatched == 0);
  CHECK(seqs.size() == 10000);
  CHECK(*seqs.begin() == 1);
  CHECK(*seqs.rbegin() == 10000);
  CHECK(per_device.size() == 10);
  for (const auto& kv : per_device) CHECK_MESSAGE(kv.second == 1000, kv.first);

  // Nothing stays in the agent's buffer once the hub acked it.
  CHECK(wait_until([&] { return agent.status().records == 0; }, 30s));
  CHECK(agent.stop() == 0);
  CHECK(hub.stop() == 0);
}

TEST_CASE(
    "with the hub down the agent buffers 5000 messages and delivers them when the hub starts") {
  auto dir = make_temp_dir("disconnect");
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("telemetry");
  Hub hub(dir / "hub", {kafka_bootstrap(), topic, ""});  // not started yet
  Agent agent(dir / "agent", {agent_id("gw-disc"), mq.uri(), hub.address(), "", 256});
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());
  auto sim = run_sim(mq.uri(), {"--devices", "5", "--count", "1000"});
  REQUIRE(sim.acked == 5000);
  CHECK_MESSAGE(wait_until([&] { return agent.status().records == 5000; }, 30s),
                "buffered: " << agent.status().records);
  std::this_thread::sleep_for(1s);  // the agent keeps retrying the hub meanwhile
  CHECK(agent.status().records == 5000);

  hub.start();
  auto recs = read_topic(topic, 5000, 120s);
  std::set<std::uint64_t> seqs;
  for (const auto& r : recs) seqs.insert(std::stoull(r.headers.at("edgesync-seq")));
  CHECK(recs.size() == 5000);
  CHECK(seqs.size() == 5000);
  CHECK(wait_until([&] { return agent.status().records == 0; }, 30s));
}

TEST_CASE("kill -9 of the agent while messages flow loses no committed record") {
  auto dir = make_temp_dir("crash");
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("telemetry");
  Hub hub(dir / "hub", {kafka_bootstrap(), topic, ""});
  hub.start();
  constexpr int kWindow = 256;
  Agent agent(dir / "agent", {agent_id("gw-crash"), mq.uri(), hub.address(), "", kWindow});
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());

  // 15,000 messages at 2,500/s (about 6 s) while the agent is killed 4 times.
  auto sim = start_sim(mq.uri(), {"--devices", "10", "--count", "1500", "--rate", "2500"},
                       dir / "sim.log");
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pause_ms(700, 1300);
  int kills = 0;
  for (; kills < 4 && sim->alive(); ++kills) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
    agent.kill9();
    std::this_thread::sleep_for(300ms);
    agent.start();
  }
  REQUIRE(sim->wait(120s) == 0);
  const auto published = sim_result(dir / "sim.log");
  REQUIRE(published.acked == 15000);

  // Drain: the buffer empties and stays empty.
  REQUIRE_MESSAGE(wait_until([&] { return agent.status().records == 0; }, 90s), agent.log_tail());
  std::this_thread::sleep_for(1s);
  const auto st = agent.status();
  REQUIRE(st.records == 0);
  const std::uint64_t committed = st.next_seq - 1;

  auto recs = read_topic(topic, committed, 120s, 3s);
  std::set<std::uint64_t> seqs;
  std::set<std::pair<std::string, std::uint64_t>> payloads;
  for (const auto& r : recs) {
    seqs.insert(std::stoull(r.headers.at("edgesync-seq")));
    const Parsed p = parse_payload(r.value);
    payloads.insert({p.device, p.n});
  }
  std::uint64_t gaps = 0;
  for (std::uint64_t s = 1; s <= committed; ++s) gaps += seqs.count(s) ? 0 : 1;
  const std::uint64_t duplicates = recs.size() - seqs.size();
  const std::uint64_t mqtt_redelivered = seqs.size() - payloads.size();
  const std::uint64_t mqtt_loss = published.acked - payloads.size();
  const std::uint64_t bound = static_cast<std::uint64_t>(kills) * (kWindow + 1);
  MESSAGE("crash run: published=" << published.acked << " committed=" << committed << " in_kafka="
                                  << recs.size() << " gaps=" << gaps << " duplicates=" << duplicates
                                  << " mqtt_redelivered=" << mqtt_redelivered << " mqtt_hop_loss="
                                  << mqtt_loss << " bound=" << bound << " kills=" << kills);
  CHECK(gaps == 0);                 // every committed record reached Kafka
  CHECK(seqs.size() == committed);  // and nothing beyond what was committed
  CHECK(mqtt_loss <= bound);        // the MQTT hop lost no more than the documented window
  CHECK(kills >= 3);
}

TEST_CASE("a dead link is noticed through keep-alive pings and the agent resumes over it") {
  auto dir = make_temp_dir("deadlink");
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("telemetry");
  Hub hub(dir / "hub", {kafka_bootstrap(), topic, ""});
  hub.start();
  FaultProxy link(hub.port());
  const int mport = free_port();
  AgentOptions o{agent_id("gw-dead"), mq.uri(), "127.0.0.1:" + std::to_string(link.port()), "",
                 256};
  o.metrics_port = mport;
  o.uplink_yaml = "  keepalive_ms: 1000\n  compression: gzip\n";
  Agent agent(dir / "agent", o);
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());
  auto hub_connected = [&] {
    auto m = http_get(mport, "/metrics").second;
    return m.find("\nedgesync_agent_hub_connected 1") != std::string::npos;
  };
  REQUIRE(wait_until(hub_connected, 30s));
  run_sim(mq.uri(), {"--devices", "2", "--count", "500"});
  REQUIRE(wait_until([&] { return agent.status().records == 0; }, 60s));

  link.freeze();  // packets stop, nothing is refused: only keep-alive can tell
  const auto t0 = std::chrono::steady_clock::now();
  run_sim(mq.uri(), {"--devices", "2", "--count", "500", "--start", "500"});
  CHECK(wait_until([&] { return !hub_connected(); }, 20s));
  const auto noticed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("dead link noticed after " << noticed << " s with uplink.keepalive_ms=1000");
  CHECK(agent.status().records > 0);  // buffered meanwhile
  link.resume();
  auto recs = read_topic(topic, 2000, 120s);
  std::set<std::uint64_t> seqs;
  for (const auto& r : recs) seqs.insert(std::stoull(r.headers.at("edgesync-seq")));
  CHECK(seqs.size() == 2000);
  CHECK(wait_until([&] { return agent.status().records == 0; }, 30s));
}
