// MqttIngest against a real Mosquitto on a free port and the real SQLite buffer: subscription,
// device id from the topic, byte-exact payloads, the payload limit, reconnect with the persistent
// session, and nothing stored after stop(). Waits on the ingest's counters (SUBACKs counted) and
// the buffer's stats, never on log text.
#include <doctest/doctest.h>
#include <unistd.h>

#include "buffer/sqlite_buffer.hpp"
#include "buffer_support.hpp"
#include "ingest/mqtt_ingest.hpp"
#include "mqtt_publish.hpp"
#include "process.hpp"
#include "services.hpp"

using namespace edgesync::agent;
using namespace std::chrono_literals;
namespace t = edgesync::test;

namespace {

AgentConfig::Mqtt config(const std::string& uri, const std::string& client) {
  AgentConfig::Mqtt m;  // the shipped defaults: sensors/#, QoS 1, device segment 1, persistent
  m.uri = uri;
  m.client_id = client + "-" + std::to_string(::getpid());
  return m;
}

struct Rig {
  explicit Rig(const std::string& name) : dir(t::make_temp_dir(name)), mq(dir / "mqtt") {
    buffer = std::make_unique<SqliteBuffer>(t::buffer_options(dir));
  }
  std::uint64_t committed() { return buffer->stats().committed_total; }
  std::filesystem::path dir;
  t::Mosquitto mq;
  std::unique_ptr<SqliteBuffer> buffer;
};

}  // namespace

TEST_CASE("ingest stores subscribed messages with the device id from the topic byte-exact") {
  Rig r("ingest-basic");
  MqttIngest in(config(r.mq.uri(), "ingest-basic"), *r.buffer);
  in.start();
  REQUIRE(t::wait_until([&] { return in.counters().subscribed == 1; }, 30s));
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  t::publish(r.mq.uri(), "sensors/dev-7/temp", {"21.5", binary, ""});
  t::publish(r.mq.uri(), "other/dev-8/temp", {"not subscribed"});
  REQUIRE(t::wait_until([&] { return r.committed() == 3; }, 30s));
  const auto recs = r.buffer->read_after(0, 10, 1 << 20);
  REQUIRE(recs.size() == 3);
  CHECK(recs[0].device_id == "dev-7");
  CHECK(recs[0].topic == "sensors/dev-7/temp");
  CHECK(recs[0].payload == "21.5");
  CHECK(recs[1].payload == binary);
  CHECK(recs[2].payload.empty());
  CHECK(recs[0].qos == 1);
  CHECK(in.counters().received == 3);
  CHECK(in.counters().accepted == 3);
  in.stop();
}

TEST_CASE("ingest drops a message over mqtt.max_payload_bytes and counts it in both places") {
  Rig r("ingest-limit");
  auto cfg = config(r.mq.uri(), "ingest-limit");
  cfg.max_payload_bytes = 100;
  MqttIngest in(cfg, *r.buffer);
  in.start();
  REQUIRE(t::wait_until([&] { return in.counters().subscribed == 1; }, 30s));
  t::publish(r.mq.uri(), "sensors/dev-1/x", {std::string(100, 'a'), std::string(101, 'b'), "c"});
  REQUIRE(t::wait_until([&] { return in.counters().received == 3; }, 30s));
  REQUIRE(t::wait_until([&] { return r.committed() == 2; }, 30s));
  CHECK(in.counters().dropped_oversize == 1);
  CHECK(t::drops(*r.buffer, DropReason::kOversize) == 1);
  const auto recs = r.buffer->read_after(0, 10, 1 << 20);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].payload == std::string(100, 'a'));
  CHECK(recs[1].payload == "c");
  in.stop();
}

TEST_CASE("ingest reconnects after a broker restart and gets what was queued meanwhile") {
  const auto dir = t::make_temp_dir("ingest-restart");
  t::Mosquitto mq(dir / "mqtt", 0, /*persistent=*/true);
  SqliteBuffer buffer(t::buffer_options(dir));
  MqttIngest in(config(mq.uri(), "ingest-restart"), buffer);
  in.start();
  REQUIRE(t::wait_until([&] { return in.counters().subscribed == 1; }, 30s));
  t::publish(mq.uri(), "sensors/dev-1/x", {"before"});
  REQUIRE(t::wait_until([&] { return buffer.stats().committed_total == 1; }, 30s));
  const auto reconnects = in.counters().reconnects.load();
  mq.restart();
  CHECK(t::wait_until(
      [&] { return in.counters().reconnects > reconnects && in.counters().subscribed == 2; }, 60s));
  t::publish(mq.uri(), "sensors/dev-1/x", {"after"});
  REQUIRE(t::wait_until([&] { return buffer.stats().committed_total == 2; }, 30s));
  const auto recs = buffer.read_after(0, 10, 1 << 20);
  REQUIRE(recs.size() == 2);
  CHECK(recs[1].payload == "after");
  in.stop();
}

TEST_CASE("after stop ingest stores nothing and the broker keeps the messages for the session") {
  Rig r("ingest-stop");
  const auto cfg = config(r.mq.uri(), "ingest-stop");
  {
    MqttIngest in(cfg, *r.buffer);
    in.start();
    REQUIRE(t::wait_until([&] { return in.counters().subscribed == 1; }, 30s));
    in.stop();
    CHECK_FALSE(in.counters().connected);
  }
  t::publish(r.mq.uri(), "sensors/dev-1/x", {"while stopped"});
  CHECK(r.committed() == 0);
  // The persistent session (clean_session false): the same client id gets it on the next start.
  MqttIngest again(cfg, *r.buffer);
  again.start();
  REQUIRE(t::wait_until([&] { return r.committed() == 1; }, 30s));
  CHECK(r.buffer->read_after(0, 10, 1 << 20).at(0).payload == "while stopped");
  again.stop();
}
