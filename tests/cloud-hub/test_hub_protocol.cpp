// A client that breaks the protocol against the real SyncService over in-process gRPC: each
// break gets its status, nothing of a refused batch is acked, and nothing the hub did not write
// is ever acked.
#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>

#include <limits>

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

// A stream welcomed for `agent`.
std::unique_ptr<test::RawStream> welcomed(Hub& h, const std::string& agent, std::uint64_t next = 1,
                                          std::uint64_t epoch = 1, const std::string& buf = "b1",
                                          v1::Welcome* w = nullptr) {
  auto s = h.open();
  REQUIRE(s->write(test::hello(agent, next, epoch, buf)));
  auto m = s->read();
  REQUIRE(m);
  REQUIRE(m->has_welcome());
  if (w) *w = m->welcome();
  return s;
}

}  // namespace

TEST_CASE(
    "seqs that go backwards are refused with INVALID_ARGUMENT naming the field and not acked") {
  Hub h;
  auto s = welcomed(h, "back-1");
  REQUIRE(s->write(test::batch(1, {1, 2, 3, 5, 4})));
  CHECK_FALSE(acked(*s, 1));
  auto st = s->finish();
  CHECK(st.error_code() == StatusCode::INVALID_ARGUMENT);
  CHECK(st.error_message().find("batch.records[4].seq") != std::string::npos);
  CHECK(st.error_message().find("back-1") != std::string::npos);
  CHECK(h.sink.produced_total() == 0);

  auto t = welcomed(h, "back-2");
  REQUIRE(t->write(test::batch(1, {10, 11, 12})));
  v1::Ack a;
  REQUIRE(acked(*t, 12, &a));
  REQUIRE(t->write(test::batch(2, {5, 6})));
  CHECK_FALSE(acked(*t, 13));
  CHECK(t->finish().error_code() == StatusCode::INVALID_ARGUMENT);
  CHECK(h.sink.delivered() == std::set<std::uint64_t>{10, 11, 12});
}

TEST_CASE("seq 0 and seq 2^64-1 are refused and poison nothing for later sessions") {
  Hub h;
  auto s = welcomed(h, "poison");
  REQUIRE(s->write(test::batch(1, {0})));
  CHECK(s->finish().error_code() == StatusCode::INVALID_ARGUMENT);
  auto t = welcomed(h, "poison", 1, 2);
  REQUIRE(t->write(test::batch(1, {std::numeric_limits<std::uint64_t>::max()})));
  CHECK(t->finish().error_code() == StatusCode::INVALID_ARGUMENT);
  v1::Welcome w;
  auto u = welcomed(h, "poison", 1, 3, "b1", &w);
  CHECK(w.durable_through() == 0);
  REQUIRE(u->write(test::batch(1, {1, 2})));
  CHECK(acked(*u, 2));
  CHECK(h.sink.delivered() == std::set<std::uint64_t>{1, 2});
}

TEST_CASE(
    "a second buffer under a live agent id is refused on its own stream and the first goes on") {
  Hub h;
  auto first = welcomed(h, "clone", 1, 10, "buffer-a");
  auto second = h.open();
  REQUIRE(second->write(test::hello("clone", 1, 10, "buffer-b")));
  CHECK_FALSE(second->read());
  auto st = second->finish();
  CHECK(st.error_code() == StatusCode::ALREADY_EXISTS);
  CHECK(st.error_message().find("buffer-a") != std::string::npos);
  // Same buffer, equal epoch (a copied buffer file): refused too.
  auto copy = h.open();
  REQUIRE(copy->write(test::hello("clone", 1, 10, "buffer-a")));
  CHECK(copy->finish().error_code() == StatusCode::ALREADY_EXISTS);
  REQUIRE(first->write(test::batch(1, {1, 2, 3})));
  CHECK(acked(*first, 3));
}

TEST_CASE("a hello with epoch 2^64-1 does not lock the agent id out after its stream ends") {
  Hub h;
  {
    auto s = welcomed(h, "lock", 1, std::numeric_limits<std::uint64_t>::max());
    s->cancel();
  }
  CHECK(test::wait_until(
      [&] {
        test::RawStream s(test::RawStream::channel(h.address()));
        s.write(test::hello("lock", 1, 1, "b1"));
        auto m = s.read();
        return m && m->has_welcome();
      },
      5s));
}

TEST_CASE("invalid UTF-8, control characters and truncated protobuf end the stream with a status") {
  Hub h;
  auto s = welcomed(h, "utf");
  auto m = test::batch(1, {1});
  m.mutable_batch()->mutable_records(0)->set_device_id("\xff\xfe");
  REQUIRE(s->write(m));
  auto st = s->finish();
  CHECK(st.error_code() == StatusCode::INVALID_ARGUMENT);
  CHECK(st.error_message().find("batch.records[0].device_id") != std::string::npos);

  auto bad_id = h.open();
  REQUIRE(bad_id->write(test::hello("gw\xc3", 1)));
  st = bad_id->finish();
  CHECK(st.error_code() == StatusCode::INVALID_ARGUMENT);
  CHECK(st.error_message().find("hello.agent_id") != std::string::npos);

  auto forged = h.open();
  REQUIRE(forged->write(test::hello("gw\n2026-01-01 error forged", 1)));
  CHECK(forged->finish().error_code() == StatusCode::INVALID_ARGUMENT);

  auto trunc = welcomed(h, "trunc");
  const std::string bytes = test::batch(1, {1, 2, 3}).SerializeAsString();
  REQUIRE(trunc->write_bytes(bytes.substr(0, bytes.size() - 7)));
  st = trunc->finish();
  CHECK(st.error_code() == StatusCode::INVALID_ARGUMENT);
  CHECK(st.error_message().find("not a valid AgentMessage") != std::string::npos);
  CHECK(h.sink.produced_total() == 0);
}

TEST_CASE("a stream that never says hello is ended at the hello deadline") {
  Hub h;
  auto s = h.open();
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(s->read());
  auto st = s->finish();
  CHECK(st.error_code() == StatusCode::DEADLINE_EXCEEDED);
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  CHECK(test::wait_until([&] { return h.service->open_streams() == 0; }, 5s));
}

TEST_CASE("stream caps: per connection and hub-wide, refused before anything is read") {
  Hub h([](hub::HubConfig& c) {
    c.max_streams_per_connection = 2;
    c.max_streams = 3;
    c.hello_timeout = 5000ms;
  });
  auto ch = test::RawStream::channel(h.address());
  auto a = std::make_unique<test::RawStream>(ch);
  auto b = std::make_unique<test::RawStream>(ch);
  CHECK(test::wait_until([&] { return h.service->open_streams() == 2; }, 5s));
  test::RawStream c(ch);
  auto st = c.finish();
  CHECK(st.error_code() == StatusCode::RESOURCE_EXHAUSTED);
  CHECK(st.error_message().find("max_streams_per_connection") != std::string::npos);
  auto d = h.open();
  CHECK(test::wait_until([&] { return h.service->open_streams() == 3; }, 5s));
  auto e = h.open();
  st = e->finish();
  CHECK(st.error_code() == StatusCode::RESOURCE_EXHAUSTED);
  CHECK(st.error_message().find("hub.max_streams") != std::string::npos);
}

TEST_CASE("a permanently refused record is handed back in Ack.rejected and the rest flows on") {
  Hub h({}, {3});
  v1::Welcome w;
  auto s = welcomed(h, "poison-record", 1, 1, "b1", &w);
  CHECK(w.max_record_bytes() == 123456);
  REQUIRE(s->write(test::batch(1, {1, 2, 3, 4})));
  REQUIRE(s->write(test::batch(2, {5, 6})));
  std::vector<std::uint64_t> rejected;
  v1::Ack a;
  while (auto m = s->read()) {
    if (!m->has_ack()) continue;
    for (const auto& r : m->ack().rejected()) {
      CHECK(r.seq() <= m->ack().acked_through());
      CHECK(r.reason().find("MSG_SIZE_TOO_LARGE") != std::string::npos);
      rejected.push_back(r.seq());
    }
    if (m->ack().acked_through() >= 6) break;
  }
  CHECK(rejected == std::vector<std::uint64_t>{3});
  CHECK(h.sink.delivered() == std::set<std::uint64_t>{1, 2, 4, 5, 6});
}

TEST_CASE("with a dead-letter topic, a permanently refused record goes there and is acked") {
  Hub h({}, {2}, true);
  auto s = welcomed(h, "dlq");
  REQUIRE(s->write(test::batch(1, {1, 2, 3})));
  v1::Ack a;
  CHECK(acked(*s, 3, &a));
  CHECK(a.rejected_size() == 0);
  CHECK(h.sink.dead_lettered() == std::set<std::uint64_t>{2});
}

TEST_CASE("an agent before 1.1 without a dead-letter topic is not acked past a poison record") {
  Hub h({}, {2});
  auto s = h.open();
  auto hello = test::hello("old-agent", 1);
  hello.mutable_hello()->clear_features();
  hello.mutable_hello()->clear_buffer_id();
  REQUIRE(s->write(hello));
  REQUIRE(s->read()->has_welcome());
  REQUIRE(s->write(test::batch(1, {1, 2, 3})));
  CHECK_FALSE(acked(*s, 2));
  CHECK(s->finish().error_code() == StatusCode::FAILED_PRECONDITION);
}

TEST_CASE("a buffer whose seqs start over is never told to skip them") {
  Hub h;
  auto s = welcomed(h, "reset");
  REQUIRE(s->write(test::batch(1, {1, 2, 3, 4, 5})));
  REQUIRE(acked(*s, 5));
  s->cancel();
  s.reset();
  v1::Welcome w;
  std::unique_ptr<test::RawStream> t;
  REQUIRE(test::wait_until(
      [&] {
        auto c = h.open();
        c->write(test::hello("reset", 3, 2, "b1"));
        auto m = c->read();
        if (!m || !m->has_welcome()) return false;
        w = m->welcome();
        t = std::move(c);
        return true;
      },
      5s));
  CHECK(w.durable_through() == 0);  // not 5: the agent says its next seq is 3
  v1::Welcome w2;
  auto again = welcomed(h, "reset-2", 10, 1, "b1", &w2);
  CHECK(w2.durable_through() == 0);
}

TEST_CASE("a replica that does not own the agent redirects it to the owner, or says rebalancing") {
  Hub h;
  h.sink.not_owner_of_all = "hub-1.hubs:7443";
  {
    auto s = h.open();
    REQUIRE(s->write(test::hello("moved-1", 1)));
    auto m = s->read();
    REQUIRE(m);
    REQUIRE(m->has_redirect());  // instead of a welcome: nothing of this stream is accepted
    CHECK(m->redirect().address() == "hub-1.hubs:7443");
    CHECK(m->redirect().reason().find("moved-1") != std::string::npos);
    CHECK_FALSE(s->read());
    const auto st = s->finish();
    CHECK(st.error_code() == StatusCode::UNAVAILABLE);
    CHECK(st.error_message().find("hub-1.hubs:7443") != std::string::npos);
  }
  h.sink.not_owner_of_all = "";  // a rebalance in progress: no owner known
  {
    auto s = h.open();
    REQUIRE(s->write(test::hello("moved-1", 1, 2)));
    CHECK_FALSE(s->read());  // no welcome, no redirect
    const auto st = s->finish();
    CHECK(st.error_code() == StatusCode::UNAVAILABLE);
    CHECK(st.error_message().find("rebalancing") != std::string::npos);
  }
}
