// kafka.delivery: exactly_once with priority lanes (proto "Priority lanes (1.4)"): two lanes of one
// agent, each its own buffer, stream at the same time into one hub process against the real Kafka
// broker (ctest fixture "kafka"). The txn sink keys sessions and watermarks per (agent, buffer), so
// both lanes are acked, both watermarks come back from Kafka after a kill -9 of the hub, and a
// read_committed consumer sees every (buffer, seq) exactly once.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "hub_support.hpp"
#include "raw_client.hpp"
#include "services.hpp"

using namespace edgesync;
using namespace edgesync::test;
using namespace std::chrono_literals;

namespace {

v1::AgentMessage lane_hello(const std::string& agent, const std::string& lane,
                            const std::string& buffer, std::uint64_t epoch, std::uint64_t next,
                            std::uint64_t first_unacked = 0) {
  auto m = hello(agent, next, epoch, buffer, first_unacked);
  m.mutable_hello()->set_lane(lane);
  m.mutable_hello()->add_features(v1::FEATURE_LANES);
  return m;
}

v1::Welcome welcome_of(RawStream& s, const v1::AgentMessage& h) {
  REQUIRE(s.write(h));
  auto m = s.read();
  REQUIRE(m);
  REQUIRE_MESSAGE(m->has_welcome(), "no welcome");
  const auto& f = m->welcome().features();
  CHECK(std::count(f.begin(), f.end(), static_cast<int>(v1::FEATURE_LANES)) == 1);
  return m->welcome();
}

// Per seq of (`agent`, `buffer`): how often a read_committed consumer sees it.
std::map<std::uint64_t, int> seq_counts(const std::vector<KafkaRecord>& recs,
                                        const std::string& agent, const std::string& buffer) {
  std::map<std::uint64_t, int> out;
  for (const auto& r : recs) {
    if (r.headers.count("edgesync-agent") && r.headers.at("edgesync-agent") == agent &&
        r.headers.count("edgesync-buffer") && r.headers.at("edgesync-buffer") == buffer) {
      out[std::stoull(r.headers.at("edgesync-seq"))]++;
    }
  }
  return out;
}

// Every seq 1..n exactly once, nothing else.
bool exactly_once(const std::map<std::uint64_t, int>& seqs, std::uint64_t n) {
  if (seqs.size() != n) return false;
  for (std::uint64_t s = 1; s <= n; ++s) {
    const auto it = seqs.find(s);
    if (it == seqs.end() || it->second != 1) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("exactly_once: two lanes of one agent stream at once, each written once and acked") {
  auto dir = make_temp_dir("eos-lanes");
  const auto topic = unique_topic("eos-lanes-data");
  const auto agent = "lanes-agent-" + std::to_string(::getpid());
  HubYaml y{kafka_bootstrap(), topic};
  y.kafka_extra =
      "  delivery: exactly_once\n  delivery_timeout_ms: 20000\n  commit_interval_ms: 100\n"
      "  watermark_topic: " +
      unique_topic("eos-lanes-wm") +
      "\n  watermark_partitions: 3\n  transactional_id: " + unique_topic("eos-lanes-txn") +
      "\n  group_session_timeout_ms: 6000\n";
  HubProcess hub(dir / "hub", y);
  hub.start();
  {
    RawStream tel(RawStream::channel(hub.address()));
    RawStream alerts(RawStream::channel(hub.address()));
    CHECK(welcome_of(tel, lane_hello(agent, "", "buf-telemetry", 1, 1)).durable_through() == 0);
    CHECK(welcome_of(alerts, lane_hello(agent, "alerts", "buf-alerts", 1, 1)).durable_through() ==
          0);
    // Both sessions open in the sink at once; their records share transactions.
    REQUIRE(tel.write(batch(1, seq_range(1, 100))));
    REQUIRE(alerts.write(batch(1, seq_range(1, 40))));
    REQUIRE(acked(alerts, 40));
    REQUIRE(acked(tel, 100));
    tel.cancel();
    alerts.cancel();
  }
  hub.process().kill9();
  hub.start();
  // Each lane's watermark comes back from Kafka on its own; the agent resends from 1 on both.
  RawStream tel(RawStream::channel(hub.address()));
  RawStream alerts(RawStream::channel(hub.address()));
  CHECK(welcome_of(alerts, lane_hello(agent, "alerts", "buf-alerts", 2, 61, 1)).durable_through() ==
        40);
  CHECK(welcome_of(tel, lane_hello(agent, "", "buf-telemetry", 2, 151, 1)).durable_through() ==
        100);
  REQUIRE(alerts.write(batch(2, seq_range(1, 60))));
  REQUIRE(tel.write(batch(2, seq_range(1, 150))));
  REQUIRE(acked(tel, 150));
  REQUIRE(acked(alerts, 60));
  tel.cancel();
  alerts.cancel();

  const auto recs = read_topic(topic, 210, 60s);
  CHECK(exactly_once(seq_counts(recs, agent, "buf-telemetry"), 150));
  CHECK(exactly_once(seq_counts(recs, agent, "buf-alerts"), 60));
  CHECK(recs.size() == 210);
  CHECK(count_in(read_file(hub.log()), "lane 'alerts' connected from") >= 1);
  CHECK(hub.stop() == 0);
}
