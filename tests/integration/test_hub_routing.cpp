// Routing rules with per-route compression and pass-through librdkafka properties whose values
// come from files and the environment, against the real Kafka broker of the ctest fixture.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>

#include "hub_support.hpp"
#include "services.hpp"

using namespace edgesync::test;
using namespace std::chrono_literals;

TEST_CASE("routes send alerts and telemetry to their topics with per-route compression") {
  auto dir = make_temp_dir("hub-routes");
  Mosquitto mq(dir / "mqtt");
  const auto telemetry = unique_topic("telemetry");
  const auto alerts = unique_topic("alerts");
  const auto fallback = unique_topic("other");
  write_file(dir / "linger", "20\n");
  // Inherited by the hub. No thread reads the environment meanwhile (doctest runs cases in turn).
  ::setenv("EDGESYNC_TEST_HUB_CLIENT_ID", "hub-routes-test", 1);  // NOLINT(concurrency-mt-unsafe)
  HubYaml y{kafka_bootstrap(), fallback};
  y.kafka_extra =
      "  routes:\n    - filter: \"alerts/#\"\n      topic: " + alerts +
      "\n      compression: lz4\n    - filter: \"sensors/#\"\n      topic: " + telemetry +
      "\n      compression: zstd\n  properties:\n    linger.ms: \"file:" +
      (dir / "linger").string() + "\"\n    client.id: \"env:EDGESYNC_TEST_HUB_CLIENT_ID\"\n";
  HubProcess hub(dir / "hub", y);
  REQUIRE(run_capture({bin("cloud-hub"), "check-config", hub.config().string()}).first == 0);
  hub.start();
  const auto id = "gw-routes-" + std::to_string(::getpid());
  Agent agent(dir / "agent", {id, mq.uri(), hub.address(), "", 256});
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());

  REQUIRE(run_sim(mq.uri(), {"--devices", "4", "--count", "500"}).acked == 2000);
  REQUIRE(run_sim(mq.uri(), {"--prefix", "alerts", "--devices", "2", "--count", "150",
                             "--client-prefix", "alert-sim"})
              .acked == 300);
  auto t = read_topic(telemetry, 2000, 120s);
  auto a = read_topic(alerts, 300, 120s);
  std::size_t wrong = 0;
  for (const auto& r : t) wrong += r.headers.at("mqtt-topic").rfind("sensors/", 0) == 0 ? 0 : 1;
  for (const auto& r : a) wrong += r.headers.at("mqtt-topic").rfind("alerts/", 0) == 0 ? 0 : 1;
  MESSAGE("routing: telemetry=" << t.size() << " (zstd) alerts=" << a.size() << " (lz4)"
                                << " misrouted=" << wrong);
  CHECK(t.size() == 2000);
  CHECK(a.size() == 300);
  CHECK(wrong == 0);
  CHECK(read_topic(fallback, 0, 5s, 2s).empty());
  CHECK(agent.stop() == 0);
  CHECK(hub.stop() == 0);

  // A secret reference that cannot be resolved stops the hub at start-up, naming the property.
  HubYaml bad{kafka_bootstrap(), fallback};
  bad.kafka_extra = "  properties:\n    sasl.password: \"env:EDGESYNC_TEST_UNSET_VARIABLE\"\n";
  HubProcess bad_hub(dir / "bad-hub", bad);
  auto [rc, out] =
      run_capture({bin("cloud-hub"), "run", "--config", bad_hub.config().string()}, 30s);
  CHECK(rc != 0);
  CHECK(out.find("EDGESYNC_TEST_UNSET_VARIABLE") != std::string::npos);
  MESSAGE("unresolvable secret: rc=" << rc << " " << out.substr(0, 300));
}
