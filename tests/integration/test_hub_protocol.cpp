// The real hub process and the real Kafka broker against a client that breaks the protocol
// (tests/support/raw_client): each break gets its status and its metric, nothing of a refused
// batch is in Kafka or acked, and a well-behaved stream beside them keeps being acked.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <thread>

#include "hub_support.hpp"
#include "raw_client.hpp"
#include "services.hpp"

using namespace edgesync;
using namespace edgesync::test;
using namespace std::chrono_literals;
using grpc::StatusCode;

namespace {

std::string pid_id(const std::string& base) {
  return base + "-" + std::to_string(::getpid());
}

// A stream welcomed by the hub, or a failed REQUIRE.
std::unique_ptr<RawStream> welcomed(const std::string& address, const v1::AgentMessage& hello,
                                    v1::Welcome* w = nullptr) {
  auto s = std::make_unique<RawStream>(RawStream::channel(address));
  REQUIRE(s->write(hello));
  auto m = s->read();
  REQUIRE(m);
  REQUIRE(m->has_welcome());
  if (w) *w = m->welcome();
  return s;
}

std::vector<std::uint64_t> seqs_of(const std::vector<KafkaRecord>& recs, const std::string& agent) {
  std::vector<std::uint64_t> out;
  for (const auto& r : recs) {
    if (r.headers.count("edgesync-agent") && r.headers.at("edgesync-agent") == agent) {
      out.push_back(std::stoull(r.headers.at("edgesync-seq")));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("protocol breaks get their status while a well-behaved stream keeps being acked") {
  auto dir = make_temp_dir("hub-protocol");
  const auto topic = unique_topic("protocol");
  HubYaml y{kafka_bootstrap(), topic};
  y.hub_extra = "  hello_timeout_ms: 700\n  max_streams_per_connection: 4\n";
  HubProcess hub(dir / "hub", y);
  hub.start();
  const std::string good = pid_id("good"), victim = pid_id("victim");

  // The well-behaved stream: one batch every 20 ms, ack latency measured before and during.
  std::atomic<bool> attacking{false}, stop{false};
  std::vector<double> quiet_ms, attack_ms;
  std::uint64_t good_sent = 0;
  std::thread well_behaved([&] {
    auto s = welcomed(hub.address(), hello(good, 1, 1, "good-buffer"));
    for (std::uint64_t seq = 1; !stop; ++seq) {
      const bool during = attacking.load();
      const auto t0 = std::chrono::steady_clock::now();
      if (!s->write(batch(seq, {seq}))) break;
      if (!acked(*s, seq)) break;
      good_sent = seq;
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      (during ? attack_ms : quiet_ms).push_back(ms);
      std::this_thread::sleep_for(20ms);
    }
  });
  std::this_thread::sleep_for(2s);  // the first batch waits for the topic to be created
  attacking = true;

  // [10,11,12] is acked and written; [5,6] after it is refused, never acked or written.
  auto v = welcomed(hub.address(), hello(victim, 10, 1, "victim-buffer"));
  REQUIRE(v->write(batch(1, {10, 11, 12})));
  REQUIRE(acked(*v, 12));
  REQUIRE(v->write(batch(2, {5, 6})));
  CHECK_FALSE(acked(*v, 13));
  auto st = v->finish();
  CHECK(st.error_code() == StatusCode::INVALID_ARGUMENT);
  CHECK(st.error_message().find("batch.records[0].seq") != std::string::npos);

  struct Case {
    const char* name;
    std::vector<std::uint64_t> seqs;
    StatusCode code;
  };
  // A newline in the agent id (first: refusal lines are rate-limited per reason, 1/s).
  {
    RawStream s(RawStream::channel(hub.address()));
    REQUIRE(s.write(hello("x\n2030-01-01 forged line", 1)));
    CHECK(s.finish().error_code() == StatusCode::INVALID_ARGUMENT);
  }
  const auto max = std::numeric_limits<std::uint64_t>::max();
  for (int round = 0; round < 20; ++round)
    for (const Case& c : {Case{"backwards", {1, 2, 3, 5, 4}, StatusCode::INVALID_ARGUMENT},
                          Case{"zero", {0}, StatusCode::INVALID_ARGUMENT},
                          Case{"max", {max}, StatusCode::INVALID_ARGUMENT}}) {
      auto s =
          welcomed(hub.address(), hello(pid_id(c.name), 1, 1 + static_cast<std::uint64_t>(round)));
      REQUIRE(s->write(batch(1, c.seqs)));
      CHECK_FALSE(acked(*s, 1));
      CHECK_MESSAGE(s->finish().error_code() == c.code, c.name);
    }
  // A second buffer under the well-behaved agent's id: refused, the first goes on.
  {
    RawStream s(RawStream::channel(hub.address()));
    REQUIRE(s.write(hello(good, 1, 99, "cloned-buffer")));
    st = s.finish();
    CHECK(st.error_code() == StatusCode::ALREADY_EXISTS);
    CHECK(st.error_message().find("good-buffer") != std::string::npos);
  }
  // Bad bytes: invalid UTF-8 in a record, in the agent id, a newline in the agent id, truncated.
  {
    auto s = welcomed(hub.address(), hello(pid_id("utf8"), 1));
    auto m = batch(1, {1});
    m.mutable_batch()->mutable_records(0)->set_mqtt_topic("sensors/\xff");
    REQUIRE(s->write(m));
    st = s->finish();
    CHECK(st.error_code() == StatusCode::INVALID_ARGUMENT);
    CHECK(st.error_message().find("batch.records[0].mqtt_topic") != std::string::npos);
  }
  {
    RawStream s(RawStream::channel(hub.address()));
    REQUIRE(s.write(hello("bad\xc3", 1)));
    CHECK(s.finish().error_code() == StatusCode::INVALID_ARGUMENT);
  }
  {
    auto s = welcomed(hub.address(), hello(pid_id("trunc"), 1));
    const std::string bytes = batch(1, {1, 2}).SerializeAsString();
    REQUIRE(s->write_bytes(bytes.substr(0, bytes.size() / 2)));
    CHECK(s->finish().error_code() == StatusCode::INVALID_ARGUMENT);
  }
  // Streams that never say hello, more than the per-connection cap on one connection.
  {
    auto ch = RawStream::channel(hub.address());
    std::vector<std::unique_ptr<RawStream>> idle;
    idle.reserve(6);
    for (int i = 0; i < 6; ++i) idle.push_back(std::make_unique<RawStream>(ch));
    std::size_t exhausted = 0, deadline = 0;
    for (auto& s : idle) {
      CHECK_FALSE(s->read());  // no half-close: the hub ends them
      const auto code = s->finish().error_code();
      exhausted += code == StatusCode::RESOURCE_EXHAUSTED;
      deadline += code == StatusCode::DEADLINE_EXCEEDED;
    }
    CHECK(exhausted == 2);
    CHECK(deadline == 4);
  }
  attacking = false;
  std::this_thread::sleep_for(1s);
  stop = true;
  well_behaved.join();

  // Kafka holds exactly what was acked.
  auto recs = read_topic(topic, good_sent + 3, 60s);
  CHECK(seqs_of(recs, victim) == std::vector<std::uint64_t>{10, 11, 12});
  const auto g = seqs_of(recs, good);
  CHECK(g.size() == good_sent);
  CHECK((!g.empty() && g.back() == good_sent));
  for (const char* c : {"backwards", "zero", "max", "utf8", "trunc"}) {
    CHECK_MESSAGE(seqs_of(recs, pid_id(c)).empty(), c);
  }
  const auto pct = [](std::vector<double> v, double p) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
  };
  MESSAGE("well-behaved stream ack latency p50/p99 ms: quiet "
          << pct(quiet_ms, 0.5) << "/" << pct(quiet_ms, 0.99) << " (" << quiet_ms.size()
          << "), under attack " << pct(attack_ms, 0.5) << "/" << pct(attack_ms, 0.99) << " ("
          << attack_ms.size() << ")");
  CHECK(attack_ms.size() >= 5);  // it kept being acked throughout

  for (const char* reason : {"invalid_batch", "bad_hello", "malformed", "duplicate_buffer",
                             "hello_timeout", "max_streams_per_connection"}) {
    CHECK_MESSAGE(hub.metric(std::string("edgesync_hub_streams_rejected_total{reason=\"") + reason +
                             "\"}") >= 1,
                  reason);
  }
  CHECK(hub.stop() == 0);
  const auto log = read_file(hub.log());
  CHECK(log.find("\n2030-01-01 forged line") == std::string::npos);  // escaped, not a new line
  CHECK(log.find("x\\n2030-01-01 forged line") != std::string::npos);
  CHECK(log.find("refused stream (invalid_batch)") != std::string::npos);
}

TEST_CASE("the hub announces the record limit Kafka has and dead-letters what Kafka refuses") {
  auto dir = make_temp_dir("hub-dlq");
  const auto topic = unique_topic("small"), dlq = unique_topic("dead");
  create_topic(kafka_bootstrap(), topic, {{"max.message.bytes", "50000"}});
  HubYaml y{kafka_bootstrap(), topic};
  y.kafka_extra = "  dead_letter_topic: " + dlq + "\n";
  HubProcess hub(dir / "hub", y);
  hub.start();
  const std::string agent = pid_id("dlq");
  v1::Welcome w;
  auto s = welcomed(hub.address(), hello(agent, 1, 1, "buf"), &w);
  MESSAGE("welcome max_record_bytes: " << w.max_record_bytes());
  // The limit is discovered at start-up: the welcome may come before it; reconnect until then.
  for (int i = 0; i < 50 && w.max_record_bytes() != 50000 - 512; ++i) {
    s.reset();
    std::this_thread::sleep_for(200ms);
    s = welcomed(hub.address(), hello(agent, 1, 2 + static_cast<std::uint64_t>(i), "buf"), &w);
  }
  CHECK(w.max_record_bytes() == 50000 - 512);

  // An agent that ignores the limit: seq 2 is too large for the topic, not for the DLQ.
  auto b = batch(1, {1, 2, 3}, 100);
  b.mutable_batch()->mutable_records(1)->set_payload(std::string(60000, 'B'));
  REQUIRE(s->write(b));
  std::vector<std::uint64_t> rejected;
  REQUIRE(acked(*s, 3, nullptr, &rejected));
  CHECK(rejected.empty());  // it went to the dead-letter topic instead
  REQUIRE(s->write(batch(2, {4, 5}, 100)));
  REQUIRE(acked(*s, 5));
  s.reset();
  CHECK(seqs_of(read_topic(topic, 4, 60s), agent) == std::vector<std::uint64_t>{1, 3, 4, 5});
  auto dead = read_topic(dlq, 1, 60s);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].value.size() == 60000);
  CHECK(dead[0].headers.at("edgesync-seq") == "2");
  CHECK(dead[0].headers.at("edgesync-original-topic") == topic);
  CHECK(dead[0].headers.at("edgesync-error").find("MSG_SIZE_TOO_LARGE") != std::string::npos);
  CHECK(hub.metric("edgesync_hub_dead_lettered_total{to=\"topic\"}") == 1);
  CHECK(hub.stop() == 0);

  // Without a dead-letter topic the record goes back to the agent in Ack.rejected.
  HubYaml y2{kafka_bootstrap(), topic};
  HubProcess hub2(dir / "hub2", y2);
  hub2.start();
  const std::string agent2 = pid_id("reject");
  auto t = welcomed(hub2.address(), hello(agent2, 1, 1, "buf"));
  REQUIRE(t->write(b));
  rejected.clear();
  REQUIRE(acked(*t, 3, nullptr, &rejected));
  CHECK(rejected == std::vector<std::uint64_t>{2});
  t.reset();
  CHECK(hub2.metric("edgesync_hub_dead_lettered_total{to=\"agent\"}") == 1);
  CHECK(hub2.stop() == 0);
}
