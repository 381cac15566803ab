// Priority lanes (proto "Priority lanes (1.4)") against the real SyncService over in-process
// gRPC: the hub allows one live stream per (agent id, lane), so the lanes of one agent stream at
// the same time, while every rule of the one lane (a second buffer refused, the epoch ordering the
// streams of one buffer) holds per lane. Acks and watermarks stay per buffer.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "in_process_hub.hpp"
#include "process.hpp"
#include "raw_client.hpp"

using namespace edgesync;
using namespace std::chrono_literals;
using grpc::StatusCode;

namespace {

using Hub = test::InProcessHub;
using test::acked;
using test::seq_range;

// A 1.4 agent's hello: its lane, FEATURE_LANES offered.
v1::AgentMessage lane_hello(const std::string& agent, const std::string& lane,
                            const std::string& buffer, std::uint64_t epoch = 1,
                            std::uint64_t next = 1) {
  auto m = test::hello(agent, next, epoch, buffer);
  m.mutable_hello()->set_lane(lane);
  m.mutable_hello()->add_features(v1::FEATURE_LANES);
  return m;
}

bool has_feature(const v1::Welcome& w, v1::Feature f) {
  return std::count(w.features().begin(), w.features().end(), static_cast<int>(f)) > 0;
}

std::unique_ptr<test::RawStream> welcomed(Hub& h, const v1::AgentMessage& hello,
                                          v1::Welcome* w = nullptr) {
  auto s = h.open();
  REQUIRE(s->write(hello));
  auto m = s->read();
  REQUIRE(m);
  REQUIRE(m->has_welcome());
  if (w) *w = m->welcome();
  return s;
}

std::set<std::uint64_t> seq_set(std::uint64_t from, std::uint64_t to) {
  const auto v = seq_range(from, to);
  return {v.begin(), v.end()};
}

// The hub's refusal of a hello: its status.
grpc::Status refused(Hub& h, const v1::AgentMessage& hello) {
  auto s = h.open();
  REQUIRE(s->write(hello));
  CHECK_FALSE(s->read());
  return s->finish();
}

}  // namespace

TEST_CASE("two lanes of one agent stream at the same time and each gets its own acks") {
  Hub h;
  v1::Welcome wd, wa;
  auto telemetry = welcomed(h, lane_hello("lanes-1", "", "buf-telemetry"), &wd);
  auto alerts = welcomed(h, lane_hello("lanes-1", "alerts", "buf-alerts"), &wa);
  CHECK(has_feature(wd, v1::FEATURE_LANES));
  CHECK(has_feature(wa, v1::FEATURE_LANES));
  CHECK(has_feature(wa, v1::FEATURE_REJECT));
  // Both live: batches interleave, each lane has its own seq space (both start at 1).
  REQUIRE(telemetry->write(test::batch(1, seq_range(1, 50))));
  REQUIRE(alerts->write(test::batch(1, seq_range(1, 7))));
  CHECK(acked(*alerts, 7));
  CHECK(acked(*telemetry, 50));
  REQUIRE(alerts->write(test::batch(2, seq_range(8, 9))));
  REQUIRE(telemetry->write(test::batch(2, seq_range(51, 60))));
  CHECK(acked(*telemetry, 60));
  CHECK(acked(*alerts, 9));
  CHECK(h.sink.delivered_of("buf-telemetry") == seq_set(1, 60));
  CHECK(h.sink.delivered_of("buf-alerts") == seq_set(1, 9));
  CHECK(h.service->open_streams() == 2);
  CHECK(telemetry->finish().ok());
  CHECK(alerts->finish().ok());

  // The watermarks are per buffer: each lane's reconnect is told its own.
  v1::Welcome again;
  auto a2 = welcomed(h, lane_hello("lanes-1", "alerts", "buf-alerts", 2, 10), &again);
  CHECK(again.durable_through() == 9);
  auto t2 = welcomed(h, lane_hello("lanes-1", "", "buf-telemetry", 2, 61), &again);
  CHECK(again.durable_through() == 60);
}

TEST_CASE("a second buffer on a live lane is refused ALREADY_EXISTS and the other lanes go on") {
  Hub h;
  auto telemetry = welcomed(h, lane_hello("lanes-2", "", "buf-telemetry"));
  auto alerts = welcomed(h, lane_hello("lanes-2", "alerts", "buf-alerts-1"));
  auto st = refused(h, lane_hello("lanes-2", "alerts", "buf-alerts-2", 99));
  CHECK(st.error_code() == StatusCode::ALREADY_EXISTS);
  CHECK(st.error_message().find("buf-alerts-1") != std::string::npos);
  CHECK(st.error_message().find("lane 'alerts'") != std::string::npos);
  // The default lane's rule is unchanged (and its message names no lane).
  st = refused(h, lane_hello("lanes-2", "", "buf-other"));
  CHECK(st.error_code() == StatusCode::ALREADY_EXISTS);
  CHECK(st.error_message().find("buf-telemetry") != std::string::npos);
  CHECK(st.error_message().find("lane '") == std::string::npos);
  // The same buffer on its lane with an equal epoch (a copied buffer file): refused too.
  st = refused(h, lane_hello("lanes-2", "alerts", "buf-alerts-1", 1));
  CHECK(st.error_code() == StatusCode::ALREADY_EXISTS);
  CHECK(st.error_message().find("epoch") != std::string::npos);
  // Both live streams were left alone.
  REQUIRE(alerts->write(test::batch(1, {1, 2})));
  CHECK(acked(*alerts, 2));
  REQUIRE(telemetry->write(test::batch(1, {1, 2, 3})));
  CHECK(acked(*telemetry, 3));
  // A higher epoch of the same buffer replaces its lane's stream only.
  auto newer = welcomed(h, lane_hello("lanes-2", "alerts", "buf-alerts-1", 2, 3));
  CHECK_FALSE(alerts->read());
  CHECK(alerts->finish().error_code() == StatusCode::ABORTED);
  REQUIRE(telemetry->write(test::batch(2, {4})));
  CHECK(acked(*telemetry, 4));
  // Once a lane's stream is gone, another buffer may take the lane.
  newer->cancel();
  CHECK(test::wait_until(
      [&] {
        auto s = h.open();
        s->write(lane_hello("lanes-2", "alerts", "buf-alerts-2", 1));
        auto m = s->read();
        return m && m->has_welcome();
      },
      5s));
}

TEST_CASE("a buffer that moves to another lane replaces its stream by epoch as on one lane") {
  Hub h;
  auto first = welcomed(h, lane_hello("lanes-3", "", "buf-x", 5));
  auto st = refused(h, lane_hello("lanes-3", "alerts", "buf-x", 5));
  CHECK(st.error_code() == StatusCode::ALREADY_EXISTS);
  CHECK(st.error_message().find("epoch") != std::string::npos);
  auto moved = welcomed(h, lane_hello("lanes-3", "alerts", "buf-x", 6));
  CHECK_FALSE(first->read());
  CHECK(first->finish().error_code() == StatusCode::ABORTED);
  // The default lane is free again for another buffer of the agent.
  auto other = welcomed(h, lane_hello("lanes-3", "", "buf-y"));
  REQUIRE(moved->write(test::batch(1, {1})));
  CHECK(acked(*moved, 1));
}

TEST_CASE("an agent before 1.4 (no lane, no FEATURE_LANES) streams as before") {
  Hub h;
  v1::Welcome w;
  auto s = welcomed(h, test::hello("old-agent", 1, 1, "buf-old"), &w);
  CHECK_FALSE(has_feature(w, v1::FEATURE_LANES));
  CHECK(has_feature(w, v1::FEATURE_REJECT));
  REQUIRE(s->write(test::batch(1, {1, 2, 3})));
  CHECK(acked(*s, 3));
  CHECK(h.sink.delivered_of("buf-old") == seq_set(1, 3));
  // Its one lane is the default lane: a 1.4 stream of another buffer there is refused, one on
  // another lane is not.
  CHECK(refused(h, lane_hello("old-agent", "", "buf-new")).error_code() ==
        StatusCode::ALREADY_EXISTS);
  auto alerts = welcomed(h, lane_hello("old-agent", "alerts", "buf-new"));
  // A lane offered without FEATURE_LANES is still a lane (the feature is only negotiated).
  auto plain = test::hello("old-agent", 1, 1, "buf-3");
  plain.mutable_hello()->set_lane("bulk");
  auto bulk = welcomed(h, plain, &w);
  CHECK_FALSE(has_feature(w, v1::FEATURE_LANES));
}

TEST_CASE("a bad lane is refused INVALID_ARGUMENT naming hello.lane") {
  Hub h;
  const std::vector<std::string> bad = {
      "ALERTS",         std::string(33, 'a'), "a/b",         "al\nerts",
      "al\x1b[31merts", "\xff\xfe",           "caf\xc3\xa9", "a b"};
  for (const auto& lane : bad) {
    CAPTURE(lane);
    const auto st = refused(h, lane_hello("lanes-bad", lane, "buf"));
    CHECK(st.error_code() == StatusCode::INVALID_ARGUMENT);
    CHECK(st.error_message().find("hello.lane") != std::string::npos);
  }
  // The longest lane is fine, and nothing was left live by the refusals.
  auto s = welcomed(h, lane_hello("lanes-bad", std::string(32, 'z'), "buf"));
  CHECK(h.sink.produced_total() == 0);
}
