// One record too large for Kafka must not stall an agent: the real agent, Mosquitto, hub and
// Kafka. Measured on 66dff17: a ~1,000,000 B payload passed the agent, failed in Kafka, and the
// agent reconnected ~100 times a minute resending it while nothing after it arrived.
#include <doctest/doctest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "hub_support.hpp"
#include "services.hpp"

using namespace edgesync::test;
using namespace std::chrono_literals;

TEST_CASE("a 999,999 B and a 1 MiB payload among small ones: the small ones after them arrive") {
  auto dir = make_temp_dir("poison");
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("poison");
  HubYaml y{kafka_bootstrap(), topic};
  HubProcess hub(dir / "hub", y);
  hub.start();
  const auto id = agent_id("poison");
  Agent agent(dir / "agent", {id, mq.uri(), hub.address(), "", 256});
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());
  REQUIRE(wait_until([&] { return agent.metric("edgesync_agent_hub_connected") == 1; }, 30s));

  REQUIRE(run_sim(mq.uri(), {"--devices", "2", "--count", "100"}).acked == 200);
  for (const std::size_t size : {std::size_t{999'999}, std::size_t{1 << 20}}) {
    const auto file = dir / ("big-" + std::to_string(size));
    write_file(file, std::string(size, 'P'));
    const auto pub = run_capture({"mosquitto_pub", "-p", std::to_string(mq.port()), "-q", "1", "-t",
                                  "sensors/big/x", "-f", file.string()});
    REQUIRE_MESSAGE(pub.first == 0, pub.second);
  }
  REQUIRE(
      run_sim(mq.uri(), {"--devices", "2", "--count", "100", "--client-prefix", "after"}).acked ==
      200);

  const auto recs = read_topic(topic, 400, 120s);
  std::size_t mine = 0, big = 0;
  for (const auto& r : recs) {
    if (r.headers.at("edgesync-agent") != id) continue;
    ++mine;
    big += r.value.size() > 100'000;
  }
  CHECK(mine == 400);  // every small one, the ones after the big ones included
  CHECK(big == 0);
  REQUIRE(wait_until([&] { return agent.status().records == 0; }, 30s));
  auto [rc, text] = run_capture(
      {bin("edge-agent"), "buffer", "status", "--config", agent.config().string(), "--json"});
  REQUIRE(rc == 0);
  const auto st = nlohmann::json::parse(text);
  MESSAGE("agent drops: " << st.at("dropped").dump() << ", dead letters "
                          << st.at("dead_letter").dump());
  CHECK(st.at("dropped").at("oversize") == 2);  // counted at ingest from the hub's limit
  const auto log = agent.log_tail();
  CHECK(count_in(log, "connected to hub") == 1);  // no reconnect loop
  CHECK(agent.stop() == 0);
  CHECK(hub.stop() == 0);
}
