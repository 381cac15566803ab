// The agent monitor: /healthz, /readyz (says why it is not ready), /metrics from the components'
// counters (drops by reason, also the field CLI's purge), and the state snapshot that
// `buffer status` reads. Real SQLite buffer, real Mosquitto, an uplink that is never started.
#include <doctest/doctest.h>

#include <sstream>

#include "agent_monitor.hpp"
#include "buffer/sqlite_buffer.hpp"
#include "buffer_support.hpp"
#include "cli/inspect.hpp"
#include "cli/time_spec.hpp"
#include "ingest/mqtt_ingest.hpp"
#include "process.hpp"
#include "services.hpp"
#include "unix_clock.hpp"
#include "uplink/uplink.hpp"

using namespace edgesync::agent;
using namespace std::chrono_literals;
namespace t = edgesync::test;

namespace {

// The value of one sample line ("name{labels} value") in Prometheus text, or -1.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

IncomingMessage msg(const std::string& device, int i) {
  return IncomingMessage{device, "sensors/" + device + "/x", "p" + std::to_string(i), now_unix_ns(),
                         1};
}

// An agent's parts, wired as main() wires them, with a monitor on a free port.
struct Parts {
  explicit Parts(const std::string& name, std::string mqtt_uri)
      : dir(t::make_temp_dir(name)),
        buffer(options(dir)),
        ingest(mqtt(std::move(mqtt_uri)), buffer),
        uplink(uplink_cfg(), "monitor-test", buffer),
        monitor({buffer, ingest, uplink, ingest_uri, "127.0.0.1:1"}, "127.0.0.1:0") {
    monitor.start();
  }
  static SqliteBufferOptions options(const std::filesystem::path& d) {
    auto o = t::buffer_options(d);
    o.maintenance_interval = 1s;  // picks up the CLI's purge within a second
    return o;
  }
  AgentConfig::Mqtt mqtt(std::string uri) {
    ingest_uri = uri;
    AgentConfig::Mqtt m;
    m.uri = std::move(uri);
    m.client_id = "monitor-test-" + std::to_string(::getpid());
    return m;
  }
  static AgentConfig::Uplink uplink_cfg() {
    AgentConfig::Uplink u;
    u.hub = "127.0.0.1:1";
    return u;
  }
  std::string metrics() { return t::http_get(monitor.port(), "/metrics").second; }

  std::filesystem::path dir;
  std::string ingest_uri;
  SqliteBuffer buffer;
  MqttIngest ingest;
  Uplink uplink;
  AgentMonitor monitor;
};

}  // namespace

TEST_CASE("readyz names the broker until MQTT is connected and healthz is always up") {
  t::Mosquitto mq(t::make_temp_dir("monitor-mq") / "mqtt");
  Parts p("monitor-ready", mq.uri());
  REQUIRE(p.monitor.port() > 0);
  CHECK(t::http_get(p.monitor.port(), "/healthz").first == 200);
  const auto [code, body] = t::http_get(p.monitor.port(), "/readyz");
  CHECK(code == 503);
  CHECK(body.find("not connected to the MQTT broker " + mq.uri()) != std::string::npos);
  CHECK(sample(p.metrics(), "edgesync_agent_mqtt_connected") == 0);
  p.ingest.start();
  CHECK(t::wait_until([&] { return t::http_get(p.monitor.port(), "/readyz").first == 200; }, 30s));
  CHECK(t::wait_until([&] { return sample(p.metrics(), "edgesync_agent_mqtt_connected") == 1; },
                      10s));
  p.ingest.stop();
}

TEST_CASE("metrics count committed records and the field CLI's purge as a drop by reason") {
  Parts p("monitor-purge", "tcp://127.0.0.1:1");
  for (int i = 0; i < 10; ++i) p.buffer.append(msg(i < 4 ? "dev-a" : "dev-b", i));
  RecordFilter f;
  f.device = "dev-a";
  REQUIRE(purge_records(t::buffer_options(p.dir).path, f, 100, [](std::uint64_t) {}) == 4);
  CHECK(t::wait_until(
      [&] {
        return sample(p.metrics(), "edgesync_agent_records_dropped_total{reason=\"purge\"}") == 4;
      },
      20s));
  const auto text = p.metrics();
  CHECK(sample(text, "edgesync_agent_records_committed_total") == 10);
  CHECK(sample(text, "edgesync_agent_buffer_records") == 6);
  CHECK(sample(text, "edgesync_agent_records_dropped_total{reason=\"oldest\"}") == 0);
}

TEST_CASE("the state snapshot tells buffer status that MQTT and the hub are down") {
  Parts p("monitor-state", "tcp://127.0.0.1:1");
  const auto db = t::buffer_options(p.dir).path;
  CHECK(t::wait_until(
      [&] {
        const auto s = read_buffer_status(db);
        return s.state.updated_unix_ns.has_value() && s.state.mqtt_state == "disconnected" &&
               s.state.hub_state == "disconnected" && s.state.buffer_state == "ok";
      },
      10s));
  const auto s = read_buffer_status(db);
  REQUIRE(s.state.last_error.has_value());
  CHECK(s.state.last_error->find("MQTT broker tcp://127.0.0.1:1 not connected") !=
        std::string::npos);
}
