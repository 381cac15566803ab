// Priority lanes on the agent: the `lanes:` config, routing by topic, the gate between the lanes'
// uplinks, and a lane meeting a hub before 1.4 (no FEATURE_LANES): it leaves before sending.
#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "agent_config.hpp"
#include "buffer/sqlite_buffer.hpp"
#include "edgesync/common/config.hpp"
#include "edgesync/v1/sync.grpc.pb.h"
#include "ingest/lane_router.hpp"
#include "process.hpp"
#include "uplink/lane_gate.hpp"
#include "uplink/uplink.hpp"

using namespace edgesync;
using namespace edgesync::agent;
using namespace std::chrono_literals;

namespace {

AgentConfig load(const std::string& lanes) {
  return agent_config_from(
      config::load_string(agent_schema(),
                          "agent:\n  id: gw\nuplink:\n  hub: h:1\n"
                          "buffer:\n  path: /data/buf.db\n  max_bytes: 1000000\n" +
                              lanes,
                          "agent.yaml"));
}

std::string load_error(const std::string& lanes) {
  try {
    load(lanes);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "";
}

struct Captured : BufferWriter {
  std::vector<std::string> topics;
  AppendStatus append(IncomingMessage m) override {
    topics.push_back(m.topic);
    return AppendStatus::kAccepted;
  }
  void record_drop(DropReason, std::uint64_t) override {}
};

// A hub before 1.4: welcomes every stream, lists no features, records what it got.
class OldHub final : public v1::Sync::Service {
 public:
  grpc::Status Stream(grpc::ServerContext*,
                      grpc::ServerReaderWriter<v1::HubMessage, v1::AgentMessage>* s) override {
    v1::AgentMessage m;
    if (!s->Read(&m) || !m.has_hello()) return grpc::Status::OK;
    {
      std::lock_guard lk(mu);
      hellos.push_back(m.hello());
    }
    v1::HubMessage w;
    w.mutable_welcome()->set_hub_id("old-hub");
    s->Write(w);
    while (s->Read(&m)) {
      if (m.has_batch() || m.has_packed_batch()) batches.fetch_add(1);
    }
    return grpc::Status::OK;
  }
  std::mutex mu;
  std::vector<v1::Hello> hellos;
  std::atomic<int> batches{0};
};

}  // namespace

TEST_CASE("lanes: sorted by priority, inherit buffer.*, own files and commit delay") {
  const auto c = load(
      "lanes:\n"
      "  - name: bulk\n    topics: [\"logs/#\"]\n    priority: 5\n    full_policy: block\n"
      "  - name: alerts\n    topics: [\"alerts/#\", \"+/+/alarm\"]\n    max_bytes: 4096\n"
      "    max_age_s: 60\n");
  REQUIRE(c.lanes.size() == 2);
  CHECK(c.lanes[0].name == "alerts");  // priority 0 (the default) before 5
  CHECK(c.lanes[1].name == "bulk");
  CHECK(c.lanes[0].buffer.path == "/data/buf.alerts.db");
  CHECK(c.lanes[1].buffer.path == "/data/buf.bulk.db");
  CHECK(c.lanes[0].buffer.max_bytes == 4096);
  CHECK(c.lanes[1].buffer.max_bytes == 1000000);  // buffer.max_bytes
  CHECK(c.lanes[0].buffer.max_age == 60s);
  CHECK(c.lanes[1].buffer.max_age == c.buffer.max_age);
  CHECK(c.lanes[1].buffer.full_policy == FullPolicy::kBlock);
  CHECK(c.lanes[0].buffer.full_policy == c.buffer.full_policy);
  CHECK(c.lanes[0].buffer.commit_delay == 0ms);  // an alert waits for nobody
  CHECK(c.buffer.commit_delay == 1000ms);
  // Subscribed beside mqtt.topics (sensors/# by default); none of them covers another.
  CHECK(c.mqtt.topics == std::vector<std::string>{"sensors/#", "alerts/#", "+/+/alarm", "logs/#"});
}

TEST_CASE("lanes: a filter mqtt.topics already covers is not subscribed twice") {
  const auto c =
      load("mqtt:\n  topics: [\"#\"]\nlanes:\n  - name: a\n    topics: [\"alerts/#\"]\n");
  CHECK(c.mqtt.topics == std::vector<std::string>{"#"});
}

TEST_CASE("lanes: mistakes are config errors naming the key") {
  CHECK(load_error("lanes:\n  - name: Alerts\n    topics: [a]\n").find("lanes[].name") !=
        std::string::npos);
  CHECK(load_error("lanes:\n  - name: a\n    topics: [a]\n  - name: a\n    topics: [b]\n")
            .find("used twice") != std::string::npos);
  CHECK(load_error("lanes:\n  - name: a\n    topics: [\"a/#/b\"]\n").find("lanes[].topics") !=
        std::string::npos);
  CHECK(load_error("lanes:\n  - name: a\n    topics: [a]\n    path: /data/buf.db\n")
            .find("another lane") != std::string::npos);
  CHECK(load_error("lanes:\n  - name: a\n    topics: [a]\n    priority: 10\n")
            .find("lanes[].priority") != std::string::npos);
  CHECK(load_error("lanes:\n  - topics: [a]\n").find("lanes[].name") != std::string::npos);
  CHECK(load_error("lanes:\n  - name: " + std::string(33, 'a') + "\n    topics: [a]\n")
            .find("lanes[].name") != std::string::npos);
}

TEST_CASE("lane_buffer_path puts the lane before the extension") {
  CHECK(lane_buffer_path("/var/lib/edgesync/buffer.db", "alerts") ==
        "/var/lib/edgesync/buffer.alerts.db");
  CHECK(lane_buffer_path("/d.x/buffer", "a") == "/d.x/buffer.a");
  CHECK(lane_buffer_path("buffer", "a") == "buffer.a");
  CHECK(lane_buffer_path("/d/.hidden", "a") == "/d/.hidden.a");
}

TEST_CASE("the lane router sends each topic to the first matching lane, the rest to the default") {
  Captured alerts, bulk, fallback;
  LaneRouter r({{{"alerts/#"}, &alerts}, {{"#"}, &bulk}}, fallback);
  auto msg = [](std::string t) {
    IncomingMessage m;
    m.topic = std::move(t);
    return m;
  };
  CHECK(r.append(msg("alerts/dev/fire")) == AppendStatus::kAccepted);
  r.append(msg("sensors/dev/t"));
  CHECK(alerts.topics == std::vector<std::string>{"alerts/dev/fire"});
  CHECK(bulk.topics == std::vector<std::string>{"sensors/dev/t"});  // first match wins
  LaneRouter only({{{"alerts/#"}, &alerts}}, fallback);
  only.append(msg("sensors/x"));
  CHECK(fallback.topics == std::vector<std::string>{"sensors/x"});
}

TEST_CASE("the lane gate holds a lane only while a higher one is busy") {
  LaneGate g(3);
  CHECK_FALSE(g.higher_busy(2));
  g.set_busy(2, true);  // the lowest lane busy holds nobody
  CHECK_FALSE(g.higher_busy(0));
  CHECK_FALSE(g.higher_busy(1));
  g.set_busy(0, true);
  CHECK_FALSE(g.higher_busy(0));
  CHECK(g.higher_busy(1));
  CHECK(g.higher_busy(2));
  g.set_busy(0, false);
  CHECK_FALSE(g.higher_busy(2));
}

TEST_CASE("a lane leaves a hub before 1.4 before sending anything, the default lane streams") {
  OldHub hub;
  int port = 0;
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&hub);
  auto server = b.BuildAndStart();
  REQUIRE(server);

  auto dir = test::make_temp_dir("lanes-old-hub");
  SqliteBufferOptions o;
  o.path = (dir / "alerts.db").string();
  o.commit_delay = 0ms;
  SqliteBuffer alerts(o);
  o.path = (dir / "default.db").string();
  SqliteBuffer telemetry(o);
  for (auto* buf : {&alerts, &telemetry}) {
    IncomingMessage m;
    m.device_id = "d";
    m.topic = "alerts/d/x";
    m.payload = "p";
    m.received_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();  // else max_age_s expires it at once
    REQUIRE(buf->append(std::move(m)) == AppendStatus::kAccepted);
  }
  AgentConfig::Uplink u;
  u.hub = "127.0.0.1:" + std::to_string(port);
  u.backoff_initial = 10ms;
  u.backoff_max = 50ms;
  LaneGate gate(2);
  Uplink lane(u, "gw", alerts, {}, UplinkLane{"alerts", 0, &gate, nullptr});
  lane.start();
  REQUIRE(test::wait_until(
      [&] {
        std::lock_guard lk(hub.mu);
        return !hub.hellos.empty();
      },
      10s));
  std::this_thread::sleep_for(300ms);
  lane.stop(0ms);
  {
    std::lock_guard lk(hub.mu);
    REQUIRE(hub.hellos.size() == 1);  // then it waits a minute before asking again
    CHECK(hub.hellos[0].lane() == "alerts");
    CHECK(std::ranges::count(hub.hellos[0].features(), v1::FEATURE_LANES) == 1);
  }
  CHECK(hub.batches.load() == 0);
  CHECK(lane.counters().sessions.load() == 0);
  CHECK(alerts.first_unacked_seq() == 1);  // still buffered
  CHECK_FALSE(gate.higher_busy(1));        // a lane that cannot stream holds nobody

  // The default lane is what an old hub knows: it streams (the old hub never acks, so the
  // record stays; that it was sent is enough here).
  Uplink main(u, "gw", telemetry, {}, UplinkLane{"", 1, &gate, nullptr});
  main.start();
  CHECK(test::wait_until([&] { return hub.batches.load() == 1; }, 10s));
  main.stop(0ms);
  server->Shutdown(std::chrono::system_clock::now() + 1s);
}
