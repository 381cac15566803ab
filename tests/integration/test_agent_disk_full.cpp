// A full disk is a state, not a crash: the buffer on a small tmpfs, the hub down, an MQTT flood.
// The agent keeps running (no restart), drops the oldest records (counted), says "disk full" in
// /readyz and `buffer status`, and once the hub is up everything not counted as dropped reaches
// Kafka: gaps in the sequence numbers == the drop counter.
#include <doctest/doctest.h>

#include <tuple>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "hub_support.hpp"
#include "services.hpp"
#include "tmpfs.hpp"

using namespace edgesync::test;
using namespace std::chrono_literals;

namespace {

double metric(const std::string& text, const std::string& name) {
  auto pos = text.find("\n" + name + " ");
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + name.size() + 2));
}

}  // namespace

TEST_CASE("a full disk drops the oldest records, keeps the agent up and recovers by itself") {
  auto dir = make_temp_dir("diskfull");
  Tmpfs fs(dir / "disk", "8m");
  if (!fs.mounted()) {
    MESSAGE("SKIPPED: cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): " << fs.why());
    return;
  }
  const auto db = dir / "disk" / "buffer.db";
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("diskfull");
  Hub hub(dir / "hub", {kafka_bootstrap(), topic, ""});  // not started yet: the hub is down
  const auto id = agent_id("gw-full");
  const int mport = free_port();
  Agent agent(dir / "agent", {id, mq.uri(), hub.address(), "", 256, mport});
  auto cfg = read_file(agent.config());
  cfg.replace(cfg.find("  path: " + agent.db().string()), 8 + agent.db().string().size(),
              "  path: " + db.string() + "\n  disk_reserve_bytes: 1048576");
  write_file(agent.config(), cfg);
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());
  CHECK(std::filesystem::exists(db.string() + ".reserve"));

  // ~100k messages of 200 bytes (~25 MB with topic and overhead) into 8 MiB: the disk fills.
  constexpr std::uint64_t kTotal = 100000;
  auto sim = start_sim(mq.uri(),
                       {"--devices", "10", "--count", "10000", "--size", "200", "--rate", "8000"},
                       dir / "sim.log");
  bool said_full = false, not_ready = false;
  wait_until(
      [&] {
        if (!said_full) said_full = buffer_status_json(db).value("disk_full", false);
        if (!not_ready) {
          auto [code, body] = http_get(mport, "/readyz");
          not_ready = code == 503 && body.find("disk full") != std::string::npos;
        }
        return (said_full && not_ready) || !sim->alive();
      },
      60s);
  CHECK_MESSAGE(said_full, "buffer status --json never said disk_full");
  CHECK_MESSAGE(not_ready, "/readyz never said disk full");
  REQUIRE(sim->wait(120s) == 0);
  const auto published = sim_result(dir / "sim.log");
  REQUIRE(published.acked == kTotal);
  // Every message reached the buffer (committed or dropped), the agent never restarted.
  CHECK_MESSAGE(wait_until([&] { return buffer_status_json(db)["next_seq"] == kTotal + 1; }, 60s),
                buffer_status_json(db).dump());
  CHECK(agent.running());
  CHECK(count_in(agent.log_tail(), "starting as agent") == 1);
  auto st = buffer_status_json(db);
  const auto dropped = st["dropped"]["disk_full"].get<std::uint64_t>();
  const auto oldest = st["dropped"]["oldest"].get<std::uint64_t>();
  MESSAGE("disk full: " << dropped << " records dropped of " << kTotal << ", "
                        << st["records"].get<std::uint64_t>() << " kept");
  CHECK(dropped > 0);
  CHECK(dropped < kTotal);
  CHECK(st["records"].get<std::uint64_t>() + dropped + oldest == kTotal);
  // Prometheus says the same.
  std::string metrics;
  CHECK_MESSAGE(wait_until(
                    [&] {
                      metrics = http_get(mport, "/metrics").second;
                      return metric(metrics,
                                    "edgesync_agent_records_dropped_total{reason=\"disk_full\"}") ==
                             static_cast<double>(dropped);
                    },
                    10s),
                metrics);

  // The hub comes up: the backlog drains and the disk-full state ends without a restart.
  hub.start();
  CHECK_MESSAGE(wait_until([&] { return buffer_status_json(db)["records"] == 0; }, 120s),
                buffer_status_json(db).dump() << "\n"
                                              << agent.log_tail());
  CHECK_MESSAGE(wait_until([&] { return http_get(mport, "/readyz").first == 200; }, 60s),
                http_get(mport, "/readyz").second);
  CHECK(wait_until([&] { return !buffer_status_json(db)["disk_full"].get<bool>(); }, 30s));
  CHECK(agent.running());

  // Per-seq accounting: what was not counted as dropped is in Kafka, nothing else is missing.
  auto recs = read_topic(topic, kTotal - dropped - oldest, 120s);
  auto rep = check_seqs(recs, id, kTotal);
  MESSAGE("kafka: " << rep.records << " records, " << rep.distinct << " distinct, " << rep.gaps
                    << " gaps, " << rep.duplicates << " duplicates");
  CHECK(rep.gaps == dropped + oldest);
  CHECK(rep.beyond == 0);
  CHECK(rep.distinct == kTotal - dropped - oldest);

  // Still taking messages after all that.
  run_sim(mq.uri(), {"--devices", "1", "--count", "100", "--device-offset", "50"});
  CHECK(wait_until([&] { return buffer_status_json(db)["next_seq"] == kTotal + 101; }, 30s));
  CHECK(agent.stop() == 0);
}

TEST_CASE("a full disk under block holds MQTT back, drops nothing and catches up by itself") {
  auto dir = make_temp_dir("diskfull-block");
  Tmpfs fs(dir / "disk", "8m");
  if (!fs.mounted()) {
    MESSAGE("SKIPPED: cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): " << fs.why());
    return;
  }
  const auto db = dir / "disk" / "buffer.db";
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("diskfull-block");
  Hub hub(dir / "hub", {kafka_bootstrap(), topic, ""});
  const auto id = agent_id("gw-fullb");
  Agent agent(dir / "agent", {id, mq.uri(), hub.address(), "", 256});
  auto cfg = read_file(agent.config());
  cfg.replace(cfg.find("  path: " + agent.db().string()), 8 + agent.db().string().size(),
              "  path: " + db.string() + "\n  disk_reserve_bytes: 1048576\n  full_policy: block");
  write_file(agent.config(), cfg);
  agent.start();
  REQUIRE_MESSAGE(agent.wait_subscribed(), agent.log_tail());

  constexpr std::uint64_t kTotal = 60000;  // ~15 MB into 8 MiB: the broker must keep the rest
  auto sim = run_sim(mq.uri(), {"--devices", "6", "--count", "10000", "--size", "200"});
  REQUIRE(sim.acked == kTotal);
  CHECK_MESSAGE(wait_until([&] { return buffer_status_json(db).value("disk_full", false); }, 60s),
                buffer_status_json(db).dump());
  std::this_thread::sleep_for(2s);
  auto st = buffer_status_json(db);
  const auto held_at = st["next_seq"].get<std::uint64_t>() - 1;
  MESSAGE("block: " << held_at << " of " << kTotal << " buffered when the disk filled");
  CHECK(held_at < kTotal);  // the rest waits in the broker
  CHECK(st["dropped"]["disk_full"] == 0);
  CHECK(st["dropped"]["oldest"] == 0);
  CHECK(agent.running());

  hub.start();  // acks free pages: the held messages come in, nothing is lost
  std::uint64_t committed = 0;
  CHECK_MESSAGE(wait_until(
                    [&] {
                      st = buffer_status_json(db);
                      committed = st["next_seq"].get<std::uint64_t>() - 1;
                      return committed >= kTotal && st["records"] == 0;
                    },
                    180s),
                st.dump() << "\n"
                          << agent.log_tail());
  CHECK(st["dropped"]["disk_full"] == 0);
  CHECK(agent.running());
  CHECK(count_in(agent.log_tail(), "starting as agent") == 1);
  // Redelivery after a dropped MQTT connection may store a message twice (at-least-once), so
  // count by (device, n) as well as by seq.
  auto recs = read_topic(topic, committed, 120s);
  auto rep = check_seqs(recs, id, committed);
  CHECK(rep.gaps == 0);
  CHECK(rep.beyond == 0);
  std::set<std::string> messages;
  for (const auto& r : recs) messages.insert(r.value.substr(0, r.value.find(",\"v\"")));
  CHECK(messages.size() == kTotal);
  MESSAGE("kafka: " << rep.records << " records, " << messages.size() << " distinct messages, "
                    << committed - kTotal << " stored twice after MQTT redelivery");
  CHECK(agent.stop() == 0);
}
