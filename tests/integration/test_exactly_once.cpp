// kafka.delivery: exactly_once against the real Kafka broker (ctest fixture "kafka") with real
// hub processes: the watermark is read back from Kafka after a kill -9 of the hub (the same
// scenario in at_least_once duplicates every resent record: the check can fail), a second
// incarnation of a transactional.id fences the first (which exits 3 and whose uncommitted records
// never become visible), the real agent under kill -9 of itself and of the hub leaves 0 missing
// and 0 duplicate (agent, seq) for a read_committed consumer, and so does a broker outage longer
// than the transaction timeout (the abortable path). Two replicas share agents through the
// consumer group: redirect to the owner, kill -9 of one replica and its restart (issue #12).
#include <doctest/doctest.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <algorithm>
#include <csignal>
#include <functional>
#include <map>
#include <random>
#include <thread>

#include "hub_support.hpp"
#include "raw_client.hpp"
#include "services.hpp"

using namespace edgesync;
using namespace edgesync::test;
using namespace std::chrono_literals;

namespace {

// The group's session timeout at the broker's floor (group.min.session.timeout.ms, 6000): a
// replica killed with -9 leaves the group that long after.
std::string eos_yaml(const std::string& watermarks, const std::string& txn_id) {
  return "  delivery: exactly_once\n  delivery_timeout_ms: 20000\n  commit_interval_ms: 100\n"
         "  watermark_topic: " +
         watermarks + "\n  watermark_partitions: 3\n  transactional_id: " + txn_id +
         "\n  group_session_timeout_ms: 6000\n";
}

// A stream welcomed by the replica at `address`: right after a start or a rebalance it may refuse
// the hello (rebalancing) or redirect it; a new hello (next epoch) is tried every 300 ms.
std::unique_ptr<RawStream> welcomed(const std::string& address,
                                    const std::function<v1::AgentMessage(std::uint64_t)>& hello_at,
                                    v1::Welcome* w) {
  for (std::uint64_t epoch = 100; epoch < 200; ++epoch) {
    auto s = std::make_unique<RawStream>(RawStream::channel(address));
    if (s->write(hello_at(epoch))) {
      if (auto m = s->read(); m && m->has_welcome()) {
        *w = m->welcome();
        return s;
      }
    }
    s->cancel();
    (void)s->finish();
    std::this_thread::sleep_for(300ms);
  }
  FAIL("no welcome from " << address);
  return nullptr;
}

v1::Welcome welcome_of(RawStream& s, const v1::AgentMessage& h) {
  REQUIRE(s.write(h));
  auto m = s.read();
  REQUIRE(m);
  REQUIRE_MESSAGE(m->has_welcome(), "no welcome");
  return m->welcome();
}

// Per seq of `agent`: how often a read_committed consumer sees it.
std::map<std::uint64_t, int> seq_counts(const std::vector<KafkaRecord>& recs,
                                        const std::string& agent) {
  std::map<std::uint64_t, int> out;
  for (const auto& r : recs) {
    if (r.headers.count("edgesync-agent") && r.headers.at("edgesync-agent") == agent) {
      out[std::stoull(r.headers.at("edgesync-seq"))]++;
    }
  }
  return out;
}

struct Counted {
  std::uint64_t missing = 0, duplicates = 0, beyond = 0;
};

Counted count(const std::map<std::uint64_t, int>& seqs, std::uint64_t committed) {
  Counted c;
  for (std::uint64_t s = 1; s <= committed; ++s) {
    const auto it = seqs.find(s);
    if (it == seqs.end()) {
      ++c.missing;
    } else if (it->second > 1) {
      c.duplicates += static_cast<std::uint64_t>(it->second - 1);
    }
  }
  for (const auto& [s, n] : seqs) c.beyond += s > committed ? 1 : 0;
  return c;
}

}  // namespace

TEST_CASE("exactly_once: after kill -9 of the hub the watermark comes back from Kafka") {
  // The same scenario in both modes: at_least_once forgets what it wrote (the welcome says 0 and
  // the resent records are written twice), exactly_once reads the watermark back.
  for (const bool eos : {false, true}) {
    CAPTURE(eos);
    auto dir = make_temp_dir(eos ? "eos-readback" : "alo-readback");
    const auto topic = unique_topic("eos-data");
    const auto agent = "eos-agent-" + std::to_string(::getpid()) + (eos ? "-eos" : "-alo");
    HubYaml y{kafka_bootstrap(), topic};
    if (eos) y.kafka_extra = eos_yaml(unique_topic("eos-wm"), unique_topic("eos-txn"));
    HubProcess hub(dir / "hub", y);
    hub.start();
    {
      RawStream s(RawStream::channel(hub.address()));
      CHECK(welcome_of(s, hello(agent, 1, 1, "buf-a")).durable_through() == 0);
      REQUIRE(s.write(batch(1, seq_range(1, 100))));
      REQUIRE(acked(s, 100));
      s.cancel();
    }
    hub.process().kill9();
    hub.start();
    // The agent says nothing was acked (its acks were lost with the hub, say): first unacked 1.
    RawStream s(RawStream::channel(hub.address()));
    const auto w = welcome_of(s, hello(agent, 201, 2, "buf-a", 1));
    CHECK(w.durable_through() == (eos ? 100u : 0u));
    REQUIRE(s.write(batch(2, seq_range(1, 200))));
    REQUIRE(acked(s, 200));
    s.cancel();
    const auto c = count(seq_counts(read_topic(topic, eos ? 200 : 300, 60s), agent), 200);
    MESSAGE((eos ? "exactly_once" : "at_least_once")
            << ": missing=" << c.missing << " duplicates=" << c.duplicates);
    CHECK(c.missing == 0);
    CHECK(c.beyond == 0);
    CHECK(c.duplicates == (eos ? 0u : 100u));
  }
}

TEST_CASE("exactly_once: a second incarnation of a transactional.id fences the first") {
  auto dir = make_temp_dir("eos-fence");
  const auto topic = unique_topic("eos-data");
  const auto agent = "fence-agent-" + std::to_string(::getpid());
  HubYaml y{kafka_bootstrap(), topic};
  y.kafka_extra = eos_yaml(unique_topic("eos-wm"), unique_topic("eos-txn"));
  HubProcess zombie(dir / "a", y);
  zombie.start();
  RawStream s(RawStream::channel(zombie.address()));
  CHECK(welcome_of(s, hello(agent, 1, 1, "buf")).durable_through() == 0);
  REQUIRE(s.write(batch(1, seq_range(1, 50))));
  REQUIRE(acked(s, 50));

  // The same transactional.id starts elsewhere (a replica rescheduled while the old one hangs):
  // its init_transactions fences the first incarnation.
  HubProcess successor(dir / "b", y);
  successor.start();
  // The successor also joins the replicas' group: the rebalance ends the zombie's stream, or its
  // commit is fenced. Either way the batch is not acked.
  REQUIRE(s.write(batch(2, seq_range(51, 80))));
  CHECK_FALSE(acked(s, 80));
  s.cancel();
  // A zombie learns that it is fenced at its next commit: records of an agent it still owns.
  for (int i = 0; i < 100 && zombie.alive(); ++i) {
    RawStream z(RawStream::channel(zombie.address()));
    const auto other = agent + "-z" + std::to_string(i);
    if (z.write(hello(other, 11, 1, "buf"))) {
      if (auto m = z.read(); m && m->has_welcome()) {
        REQUIRE(z.write(batch(1, seq_range(1, 10))));
        CHECK_FALSE(acked(z, 10));  // fenced: not committed, not acked
        break;
      }
    }
    z.cancel();
    std::this_thread::sleep_for(300ms);
  }
  CHECK(wait_until([&] { return !zombie.alive(); }, 60s));
  CHECK(zombie.stop() == 3);  // exit 3: its orchestrator restarts it
  CHECK(count_in(read_file(zombie.log()), "fenced") >= 1);

  // The successor owns the agent once the group settled without the zombie.
  v1::Welcome w;
  auto s2 = welcomed(
      successor.address(), [&](std::uint64_t e) { return hello(agent, 81, e, "buf", 51); }, &w);
  CHECK(w.durable_through() == 50);
  REQUIRE(s2->write(batch(3, seq_range(51, 80))));
  REQUIRE(acked(*s2, 80));
  s2->cancel();
  const auto c = count(seq_counts(read_topic(topic, 80, 60s), agent), 80);
  CHECK(c.missing == 0);
  CHECK(c.duplicates == 0);
  CHECK(c.beyond == 0);
}

TEST_CASE("exactly_once: kill -9 of the agent and of the hub under load, 0 missing 0 duplicates") {
  auto dir = make_temp_dir("eos-crash");
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("eos-data");
  Hub hub(dir / "hub",
          {kafka_bootstrap(), topic, eos_yaml(unique_topic("eos-wm"), unique_topic("eos-txn"))});
  hub.start();
  const auto id = agent_id("gw-eos");
  Agent agent(dir / "agent", {id, mq.uri(), hub.address(), "", 256});
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());

  // 32,000 messages at 2,000/s (about 16 s) while the agent and the hub are killed in turn. The
  // load must outlast the six kills: a restarted exactly_once hub rejoins its consumer group first
  // (~2 s each), and with 8 s of load a CI run got through only one hub kill.
  auto sim =
      start_sim(mq.uri(), {"--devices", "8", "--count", "4000", "--rate", "2000"}, dir / "sim.log");
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pause_ms(600, 1200);
  int agent_kills = 0, hub_kills = 0;
  for (int i = 0; i < 6 && sim->alive(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
    if (i % 2 == 0) {
      agent.kill9();
      ++agent_kills;
      std::this_thread::sleep_for(200ms);
      agent.start();
    } else {
      hub.kill9();
      ++hub_kills;
      std::this_thread::sleep_for(200ms);
      hub.start();
    }
  }
  REQUIRE(sim->wait(120s) == 0);
  REQUIRE_MESSAGE(wait_until([&] { return agent.status().records == 0; }, 120s), agent.log_tail());
  std::this_thread::sleep_for(1s);
  const auto st = agent.status();
  REQUIRE(st.records == 0);
  const std::uint64_t committed = st.next_seq - 1;
  const auto seqs = seq_counts(read_topic(topic, committed, 120s, 3s), id);
  const auto c = count(seqs, committed);
  MESSAGE("exactly_once crash run: committed="
          << committed << " missing=" << c.missing << " duplicates=" << c.duplicates << " beyond="
          << c.beyond << " agent_kills=" << agent_kills << " hub_kills=" << hub_kills);
  CHECK(c.missing == 0);
  CHECK(c.duplicates == 0);
  CHECK(c.beyond == 0);
  CHECK(agent_kills >= 2);
  CHECK(hub_kills >= 2);
  CHECK(agent.stop() == 0);
  CHECK(hub.stop() == 0);
}

TEST_CASE("exactly_once: a transaction that timed out while Kafka was down is aborted and resent") {
  // The known trap: records time out (message.timeout.ms 3 s) while the broker is down for 15 s
  // and the open transaction becomes abortable; the abort may itself time out until the broker is
  // back (the hub retries it), or fail for good when the coordinator already aborted the timed-out
  // transaction (librdkafka 2.0.2 raises INVALID_TXN_STATE as fatal): then the hub exits 3 and its
  // orchestrator, played here by a loop, restarts it. Either way nothing is lost or written twice.
  auto dir = make_temp_dir("eos-outage");
  DedicatedKafka kafka(dir / "kafka");
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("eos-data");
  HubYaml y{kafka.bootstrap(), topic};
  y.kafka_extra =
      "  delivery: exactly_once\n  delivery_timeout_ms: 3000\n  transaction_timeout_ms: 6000\n"
      "  watermark_topic: eos-wm\n  transactional_id: eos-outage\n  health_check_ms: 1000\n";
  HubProcess hub(dir / "hub", y);
  hub.start();
  REQUIRE(wait_until([&] { return http_get(hub.metrics_port(), "/readyz").first == 200; }, 30s));
  const auto id = agent_id("gw-eos-outage");
  Agent agent(dir / "agent", {id, mq.uri(), hub.address(), "", 256});
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());

  // 15,000 messages at 500/s (about 30 s), the broker down from ~5 s to ~20 s.
  auto sim =
      start_sim(mq.uri(), {"--devices", "10", "--count", "1500", "--rate", "500"}, dir / "sim.log");
  std::vector<int> exits;  // the orchestrator's view: exit codes of hub processes that ended
  std::jthread orchestrator([&](const std::stop_token& stop) {
    while (!stop.stop_requested()) {
      if (!hub.alive()) {
        exits.push_back(hub.stop());
        try {
          hub.start();
        } catch (const std::exception&) {  // exited at once (Kafka still down): again later
        }
      }
      std::this_thread::sleep_for(200ms);
    }
  });
  std::this_thread::sleep_for(5s);
  kafka.stop();
  std::this_thread::sleep_for(15s);
  kafka.start();
  REQUIRE(sim->wait(180s) == 0);
  REQUIRE_MESSAGE(wait_until([&] { return agent.status().records == 0; }, 180s), agent.log_tail());
  std::this_thread::sleep_for(1s);
  orchestrator.request_stop();
  orchestrator.join();
  const auto st = agent.status();
  REQUIRE(st.records == 0);
  const std::uint64_t committed = st.next_seq - 1;
  const auto c = count(
      seq_counts(read_topic_from(kafka.bootstrap(), topic, committed, 120s, 3s), id), committed);
  const auto log = read_file(hub.log());
  MESSAGE("exactly_once outage run: committed="
          << committed << " missing=" << c.missing << " duplicates=" << c.duplicates
          << " aborts=" << count_in(log, "aborting the transaction")
          << " hub processes ended and restarted=" << exits.size());
  CHECK(c.missing == 0);
  CHECK(c.duplicates == 0);
  CHECK(c.beyond == 0);
  // The abortable path usually runs. With the consumer group (the session times out during the
  // outage) the open transaction sometimes had every record delivered before the broker stopped
  // and is committed once the broker is back (1 of 4 runs): exactly once too, so not a failure.
  WARN(count_in(log, "aborting the transaction") >= 1);
  // A hub that gave up said why: 3 = fatal producer error, 1 = could not initialise (Kafka down),
  // 134 = librdkafka 2.0.2's assertion in rd_kafka_enq_once_del_source_return after a
  // send_offsets_to_transaction failed while the coordinator was down (docs/cloud-hub.md: a known
  // librdkafka bug; the restart loses and duplicates nothing, as counted above).
  for (const int rc : exits) CHECK((rc == 3 || rc == 1 || rc == 134));
  CHECK(hub.stop() == 0);
}

// Issue #12 phase 2: two replicas share one watermark topic through a consumer group. Agents all
// start at replica A (their uplink.hub); those whose watermark partition the group gave B are
// redirected there. Then B is killed with -9 (its agents move to A after the group's session
// timeout) and started again (the group gives B its share back). A read_committed consumer
// counts every (agent, seq): 0 missing, 0 duplicates.
TEST_CASE(
    "exactly_once: two replicas own agents by consumer group, redirect, kill -9 and restart") {
  auto dir = make_temp_dir("eos-group");
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("eos-group-data");
  const auto wm = unique_topic("eos-group-wm");
  constexpr int kPartitions = 3;
  const auto yaml = [&](const std::string& name) {
    HubYaml y{kafka_bootstrap(), topic};
    y.kafka_extra =
        "  delivery: exactly_once\n  delivery_timeout_ms: 8000\n"
        "  transaction_timeout_ms: 10000\n  commit_interval_ms: 100\n"
        "  watermark_topic: " +
        wm + "\n  watermark_partitions: " + std::to_string(kPartitions) +
        "\n  transactional_id: " + unique_topic(name) + "\n  group_session_timeout_ms: 6000\n";
    return y;
  };
  HubProcess a(dir / "a", yaml("txn-a"));
  HubProcess b(dir / "b", yaml("txn-b"));
  a.start();
  b.start();

  // Four agents, at least one per watermark partition (murmur2 of the id, as the hubs place them;
  // the group gives one replica two partitions, the other one).
  std::vector<std::string> ids;
  int per_partition[kPartitions] = {};
  for (int i = 0; ids.size() < 4; ++i) {
    const auto id = agent_id("gw-grp-" + std::to_string(i));
    const auto p = rd_kafka_msg_partitioner_murmur2(nullptr, id.data(), id.size(), kPartitions,
                                                    nullptr, nullptr);
    if (per_partition[p] < (ids.size() < kPartitions ? 1 : 2)) {
      ++per_partition[p];
      ids.push_back(id);
    }
  }
  std::vector<std::unique_ptr<Agent>> agents;
  for (const auto& id : ids) {
    agents.push_back(std::make_unique<Agent>(
        dir / id, AgentOptions{id, mq.uri(), a.address(), "", 256, 0, "  backoff_max_ms: 2000\n"}));
    agents.back()->start();
  }
  for (auto& ag : agents) REQUIRE_MESSAGE(ag->wait_subscribed(), ag->log_tail());
  const auto open = [](HubProcess& h) {
    return std::max(0.0, h.metric("edgesync_hub_streams_open"));
  };
  const auto t0 = std::chrono::steady_clock::now();
  const auto since = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const auto streams_to = [&](HubProcess& h, const std::string& id) {
    return count_in(read_file(h.log()), "agent '" + id + "' buffer");
  };
  const auto all_streamed_to = [&](HubProcess& h) {
    return std::all_of(ids.begin(), ids.end(), [&](const auto& id) { return streams_to(h, id); });
  };
  // Redirect: every agent dialled A; the group gave B one of the three partitions, so B streams
  // the agents of that partition.
  CHECK_MESSAGE(
      wait_until([&] { return open(a) >= 1 && open(b) >= 1 && open(a) + open(b) == 4; }, 30s),
      "A " << open(a) << " B " << open(b));
  const double redirected = a.metric("edgesync_hub_streams_rejected_total{reason=\"not_owner\"}");
  MESSAGE("spread after " << since() << " s: A " << open(a) << " B " << open(b) << ", "
                          << redirected << " redirect(s) from A");
  CHECK(redirected >= 1);

  // 4 agents x 10,000 records (each agent takes every message) at 1,000/s while B dies and
  // returns.
  auto sim =
      start_sim(mq.uri(), {"--devices", "4", "--count", "2500", "--rate", "1000"}, dir / "sim.log");
  std::this_thread::sleep_for(2s);
  const auto a_assigned = [&] {
    return count_in(read_file(a.log()), "accepting the agents of 3 watermark partition(s)");
  };
  const auto before = a_assigned();
  b.process().kill9();
  const auto killed = std::chrono::steady_clock::now();
  // After the session timeout the group gives A every partition, and B's agents stream to A.
  CHECK_MESSAGE(wait_until([&] { return a_assigned() > before && all_streamed_to(a); }, 30s),
                a.log());
  const double failover =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  const auto b_streams = count_in(read_file(b.log()), "connected from");
  b.start();  // static membership: B rejoins under its instance id, the group gives it its share
  const auto restarted = std::chrono::steady_clock::now();
  CHECK_MESSAGE(
      wait_until([&] { return count_in(read_file(b.log()), "connected from") > b_streams; }, 30s),
      "A " << open(a) << " B " << open(b));
  const double back =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - restarted).count();
  REQUIRE(sim->wait(120s) == 0);
  for (auto& ag : agents) {
    REQUIRE_MESSAGE(wait_until([&] { return ag->status().records == 0; }, 90s), ag->log_tail());
  }
  std::uint64_t total = 0;
  std::vector<std::uint64_t> committed;
  for (auto& ag : agents) {
    committed.push_back(ag->status().next_seq - 1);
    total += committed.back();
  }
  const auto recs = read_topic(topic, total, 120s, 3s);
  Counted sum;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto c = count(seq_counts(recs, ids[i]), committed[i]);
    sum.missing += c.missing;
    sum.duplicates += c.duplicates;
    sum.beyond += c.beyond;
  }
  MESSAGE("two replicas: records=" << total << " missing=" << sum.missing
                                   << " duplicates=" << sum.duplicates << " beyond=" << sum.beyond
                                   << "; kill -9 of B -> A owns all after " << failover
                                   << " s; B restarted -> owns its share again after " << back
                                   << " s; whole test " << since() << " s");
  CHECK(total >= 4 * 10000);
  CHECK(sum.missing == 0);
  CHECK(sum.duplicates == 0);
  CHECK(sum.beyond == 0);
  for (auto& ag : agents) CHECK(ag->stop() == 0);
  CHECK(a.stop() == 0);
  CHECK(b.stop() == 0);
}

// KIP-447 fencing by the group: replica B holds records of an agent in its open transaction and
// is frozen (SIGSTOP) past the session timeout; the group gives its partitions to A, which
// welcomes the agent with the committed watermark and writes the resent records. When B resumes,
// the group coordinator refuses its transaction (stale generation): nothing of it is visible.
TEST_CASE("exactly_once: a replica frozen past the session timeout cannot commit what it held") {
  auto dir = make_temp_dir("eos-frozen");
  const auto topic = unique_topic("eos-frozen-data");
  const auto wm = unique_topic("eos-frozen-wm");
  const auto yaml = [&](const std::string& name, int commit_ms) {
    HubYaml y{kafka_bootstrap(), topic};
    y.kafka_extra =
        "  delivery: exactly_once\n  delivery_timeout_ms: 20000\n"
        "  commit_interval_ms: " +
        std::to_string(commit_ms) + "\n  watermark_topic: " + wm +
        "\n  watermark_partitions: 3\n  transactional_id: " + unique_topic(name) +
        "\n  group_session_timeout_ms: 6000\n";
    return y;
  };
  HubProcess a(dir / "a", yaml("txn-a", 100));
  HubProcess b(dir / "b", yaml("txn-b", 4000));  // records wait in B's open transaction
  a.start();
  b.start();
  // An agent that B owns: the first candidate B welcomes.
  std::string agent;
  std::unique_ptr<RawStream> s;
  for (int i = 0; i < 60 && !s; ++i) {
    const auto id = "frozen-" + std::to_string(::getpid()) + "-" + std::to_string(i);
    auto t = std::make_unique<RawStream>(RawStream::channel(b.address()));
    if (t->write(hello(id, 1, 1, "buf"))) {
      if (auto m = t->read(); m && m->has_welcome()) {
        agent = id;
        s = std::move(t);
        break;
      }
    }
    t->cancel();
    (void)t->finish();
    if (i % 3 == 2) std::this_thread::sleep_for(300ms);  // the group may still be settling
  }
  REQUIRE_MESSAGE(s, "B welcomed none of the candidates");
  REQUIRE(s->write(batch(1, seq_range(1, 50))));
  REQUIRE(acked(*s, 50));  // committed by B
  REQUIRE(s->write(batch(2, seq_range(51, 80))));
  std::this_thread::sleep_for(500ms);  // written into B's open transaction, not committed
  const auto a_all = [&] {
    return count_in(read_file(a.log()), "accepting the agents of 3 watermark partition(s)");
  };
  const auto before = a_all();
  REQUIRE(::kill(b.process().pid(), SIGSTOP) == 0);
  CHECK_MESSAGE(wait_until([&] { return a_all() > before; }, 30s), read_file(a.log()));
  v1::Welcome w;
  auto s2 = welcomed(
      a.address(), [&](std::uint64_t e) { return hello(agent, 81, e, "buf", 51); }, &w);
  CHECK(w.durable_through() == 50);  // B's open transaction is not in the watermark
  REQUIRE(s2->write(batch(3, seq_range(51, 80))));
  REQUIRE(acked(*s2, 80));
  REQUIRE(::kill(b.process().pid(), SIGCONT) == 0);
  // B resumes with a commit due: the coordinator refuses its stale generation (aborted), or the
  // producer is fenced; either way nothing of its transaction becomes visible.
  CHECK_MESSAGE(
      wait_until(
          [&] {
            const auto log = read_file(b.log());
            return count_in(log, "aborting the transaction") + count_in(log, "cannot go on") >= 1;
          },
          30s),
      read_file(b.log()));
  s->cancel();
  s2->cancel();
  const auto c = count(seq_counts(read_topic(topic, 80, 60s, 3s), agent), 80);
  MESSAGE("frozen replica: missing=" << c.missing << " duplicates=" << c.duplicates);
  CHECK(c.missing == 0);
  CHECK(c.duplicates == 0);
  CHECK(c.beyond == 0);
  CHECK(a.stop() == 0);
  (void)b.stop();
}
