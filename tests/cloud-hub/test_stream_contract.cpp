// The stream contract as pure functions: every way a batch or hello can break it is named.
#include <doctest/doctest.h>

#include <limits>

#include "raw_client.hpp"
#include "stream_contract.hpp"

using namespace edgesync;
using namespace std::chrono_literals;

namespace {

hub::StreamState state(std::uint64_t next, std::uint64_t last = 0, std::uint64_t first = 0) {
  hub::StreamState s;
  s.first_allowed = first ? first : next;
  s.hello_next_seq = next;
  s.last_seq = last;
  return s;
}

std::string field_of(const v1::AgentMessage& m, const hub::StreamState& s,
                     std::chrono::seconds since = 0s) {
  auto v = hub::check_batch(m.batch(), s, hub::BatchLimits{}, since);
  return v ? v->field : std::string("ok");
}

}  // namespace

TEST_CASE("seqs must be above 0, strictly increasing and above the stream's last") {
  CHECK(field_of(test::batch(1, {1, 2, 3}), state(1)) == "ok");
  CHECK(field_of(test::batch(1, {1, 2, 3, 5, 4}), state(1)) == "batch.records[4].seq");
  CHECK(field_of(test::batch(2, {5, 6}), state(1, 12)) == "batch.records[0].seq");
  CHECK(field_of(test::batch(1, {0}), state(1)) == "batch.records[0].seq");
  CHECK(field_of(test::batch(1, {3, 3}), state(1)) == "batch.records[1].seq");
  CHECK(field_of(test::batch(1, {}), state(1)) == "batch.records");
}

TEST_CASE("seqs must lie within what the hello announced") {
  // Below what the buffer holds.
  CHECK(field_of(test::batch(1, {4}), state(10, 0, 5)) == "batch.records[0].seq");
  CHECK(field_of(test::batch(1, {5}), state(10, 0, 5)) == "ok");
  // Beyond what the agent can have assigned: 2^64-1 is refused, a fast agent is not.
  const auto max = std::numeric_limits<std::uint64_t>::max();
  CHECK(field_of(test::batch(1, {max}), state(1)) == "batch.records[0].seq");
  CHECK(field_of(test::batch(1, {900'000}), state(1)) == "ok");
  CHECK(field_of(test::batch(1, {2'000'001}), state(1)) == "batch.records[0].seq");
  CHECK(field_of(test::batch(1, {2'000'001}), state(1), 5s) == "ok");
  CHECK(hub::seq_ceiling(state(max), hub::BatchLimits{}, 100000s) == max);  // saturates
}

TEST_CASE("record strings must be valid UTF-8 and the batch within its limits") {
  auto m = test::batch(1, {1, 2});
  m.mutable_batch()->mutable_records(1)->set_device_id("bad\xff");
  CHECK(field_of(m, state(1)) == "batch.records[1].device_id");
  m = test::batch(1, {1});
  m.mutable_batch()->mutable_records(0)->set_mqtt_topic("\xc0\xaf");  // overlong '/'
  CHECK(field_of(m, state(1)) == "batch.records[0].mqtt_topic");
  m = test::batch(1, {1});
  m.mutable_batch()->mutable_records(0)->set_mqtt_topic("a/\x01/b");  // MQTT allows it
  CHECK(field_of(m, state(1)) == "ok");
  hub::BatchLimits small;
  small.max_records = 2;
  small.max_bytes = 100;
  CHECK(hub::check_batch(test::batch(1, {1, 2, 3}).batch(), state(1), small, 0s)->field ==
        "batch.records");
  CHECK(hub::check_batch(test::batch(1, {1}, 200).batch(), state(1), small, 0s)->field == "batch");
}

TEST_CASE("a hello names its agent in bounded, printable UTF-8") {
  CHECK_FALSE(hub::check_hello(test::hello("gw-1", 1).hello()));
  CHECK(hub::check_hello(test::hello("", 1).hello())->field == "hello.agent_id");
  CHECK(hub::check_hello(test::hello("gw\n1", 1).hello())->field == "hello.agent_id");
  CHECK(hub::check_hello(test::hello("gw\xfe", 1).hello())->field == "hello.agent_id");
  CHECK(hub::check_hello(test::hello(std::string(129, 'a'), 1).hello())->field == "hello.agent_id");
  CHECK(hub::check_hello(test::hello("gw-1", 1, 1, "b\x1b[31m").hello())->field ==
        "hello.buffer_id");
  CHECK(hub::check_hello(test::hello("gw-1", 0).hello())->field == "hello.next_seq");
  CHECK(hub::check_hello(test::hello("gw-1", 5, 1, "", 5).hello())->field ==
        "hello.first_unacked_seq");
}

TEST_CASE("a hello's lane is empty or 1-32 bytes of [a-z0-9_-]") {
  const auto lane = [](const std::string& l) {
    auto m = test::hello("gw-1", 1);
    m.mutable_hello()->set_lane(l);
    auto v = hub::check_hello(m.hello());
    return v ? v->field : std::string("ok");
  };
  CHECK(lane("") == "ok");
  CHECK(lane("alerts") == "ok");
  CHECK(lane("p0_bulk-2") == "ok");
  CHECK(lane(std::string(32, 'a')) == "ok");
  CHECK(lane(std::string(33, 'a')) == "hello.lane");
  CHECK(lane("ALERTS") == "hello.lane");
  CHECK(lane("a/b") == "hello.lane");
  CHECK(lane("a.b") == "hello.lane");
  CHECK(lane("a b") == "hello.lane");
  CHECK(lane("al\nerts") == "hello.lane");
  CHECK(lane(std::string("a\0b", 3)) == "hello.lane");
  CHECK(lane("\xff") == "hello.lane");
  CHECK(lane("caf\xc3\xa9") == "hello.lane");  // valid UTF-8, still not a lane name
  // The registry keys lanes under an agent id, which can hold no control character.
  CHECK(hub::check_hello(test::hello("gw\x7f", 1).hello())->field == "hello.agent_id");
  CHECK(hub::check_hello(test::hello("gw\x01", 1).hello())->field == "hello.agent_id");
}
