#include <doctest/doctest.h>

#include "agent_config.hpp"
#include "edgesync/common/config.hpp"
#include "hub_config.hpp"

using edgesync::agent::agent_config_from;
using edgesync::agent::agent_schema;
using edgesync::config::ConfigError;
using edgesync::config::load_string;

namespace {
std::string error_of(const std::string& yaml) {
  try {
    agent_config_from(load_string(agent_schema(), yaml, "agent.yaml"));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
const char* kMinimal = "agent:\n  id: gw-1\nuplink:\n  hub: hub:7443\n";
}  // namespace

TEST_CASE("minimal agent config gets the documented defaults") {
  auto c = agent_config_from(load_string(agent_schema(), kMinimal, "agent.yaml"));
  CHECK(c.agent_id == "gw-1");
  CHECK(c.mqtt.client_id == "edgesync-gw-1");
  CHECK(c.mqtt.topics == std::vector<std::string>{"sensors/#"});
  CHECK(c.mqtt.qos == 1);
  CHECK_FALSE(c.mqtt.clean_session);
  CHECK(c.buffer.synchronous_full);
  CHECK(c.buffer.commit_window == 256);
  CHECK(c.uplink.batch_max_records == 500);
  CHECK(c.uplink.backoff_max.count() == 30000);
}

// The OS reason comes from std::generic_category() now (thread-safe, unlike std::strerror: tidy's
// concurrency-mt-unsafe); the message must stay what it was.
TEST_CASE("a config file that cannot be opened names the file and the OS reason") {
  std::string e;
  try {
    edgesync::agent::load_agent_config("/nonexistent-dir/agent.yaml");
  } catch (const ConfigError& err) {
    e = err.what();
  }
  CHECK(
      e.find("/nonexistent-dir/agent.yaml: cannot open config file (No such file or directory)") !=
      std::string::npos);
}

TEST_CASE("missing required key names the key") {
  auto e = error_of("agent:\n  id: gw-1\n");
  CHECK(e.find("agent.yaml") != std::string::npos);
  CHECK(e.find("'uplink.hub'") != std::string::npos);
  CHECK(e.find("required") != std::string::npos);
}

TEST_CASE("wrong type names file and line and key") {
  auto e = error_of(std::string(kMinimal) + "mqtt:\n  qos: high\n");
  CHECK(e.find("agent.yaml:6:") != std::string::npos);
  CHECK(e.find("'mqtt.qos'") != std::string::npos);
  CHECK(e.find("integer") != std::string::npos);
}

TEST_CASE("out of range value is refused with the range") {
  auto e = error_of(std::string(kMinimal) + "mqtt:\n  qos: 3\n");
  CHECK(e.find("agent.yaml:6:") != std::string::npos);
  CHECK(e.find("[0, 2]") != std::string::npos);
}

TEST_CASE("bad YAML reports the line") {
  auto e = error_of("agent:\n  id: gw-1\nuplink:\n  hub: [unclosed\n");
  CHECK(e.find("agent.yaml:") != std::string::npos);
  CHECK(e.find("invalid YAML") != std::string::npos);
}

TEST_CASE("unknown key is an error with a suggestion") {
  auto e = error_of(std::string(kMinimal) + "buffer:\n  pathh: /x\n");
  CHECK(e.find("agent.yaml:6:3") != std::string::npos);
  CHECK(e.find("unknown key") != std::string::npos);
  CHECK(e.find("path") != std::string::npos);
}

TEST_CASE("enum values are checked") {
  auto e = error_of(std::string(kMinimal) + "buffer:\n  synchronous: sometimes\n");
  CHECK(e.find("normal|full") != std::string::npos);
  auto c = agent_config_from(
      load_string(agent_schema(), std::string(kMinimal) + "buffer:\n  synchronous: NORMAL\n", "a"));
  CHECK_FALSE(c.buffer.synchronous_full);
}

TEST_CASE("invalid MQTT filter is refused") {
  auto e = error_of(std::string(kMinimal) + "mqtt:\n  topics: [\"a/#/b\"]\n");
  CHECK(e.find("not a valid MQTT topic filter") != std::string::npos);
}

TEST_CASE("a section given as a scalar is an error and not a crash") {
  auto e = error_of("agent: 5\nuplink:\n  hub: x:1\n");
  CHECK(e.find("expected a map") != std::string::npos);
  CHECK(error_of("").find("required") != std::string::npos);
  CHECK(error_of("- a\n- b\n").find("expected a map") != std::string::npos);
}

TEST_CASE("hub routes are an object list with their own keys") {
  auto v = load_string(edgesync::hub::hub_schema(),
                       "kafka:\n  bootstrap_servers: k:9092\n  routes:\n"
                       "    - filter: alerts/#\n      topic: alerts\n      compression: zstd\n"
                       "    - {filter: \"sensors/+/data\", topic: telemetry}\n"
                       "  properties:\n    linger.ms: 20\n",
                       "hub.yaml");
  auto c = edgesync::hub::hub_config_from(v);
  REQUIRE(c.kafka.routes.size() == 2);
  CHECK(c.kafka.routes[0].topic == "alerts");
  CHECK(c.kafka.routes[0].compression == "zstd");
  CHECK(c.kafka.routes[1].compression.empty());
  CHECK(c.kafka.properties.at("linger.ms") == "20");
  CHECK(c.kafka.default_topic == "telemetry");
  try {
    load_string(edgesync::hub::hub_schema(),
                "kafka:\n  bootstrap_servers: k\n  routes:\n    - filter: a\n      topik: b\n",
                "hub.yaml");
    FAIL("expected an error");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find("hub.yaml:5:7") != std::string::npos);
  }
}

TEST_CASE("the reference lists every key of the table") {
  const auto md = agent_schema().reference_markdown();
  for (const auto& k : agent_schema().keys) {
    CHECK(md.find("`" + std::string(k.path) + "`") != std::string::npos);
  }
}
