// Identity and access against the real hub binary, real TLS (certificates made by openssl in
// the test) and the real Kafka broker of the ctest fixture.
#include <doctest/doctest.h>
#include <unistd.h>

#include <thread>

#include "hub_support.hpp"
#include "services.hpp"
#include "tls_certs.hpp"

using namespace edgesync::test;
using namespace std::chrono_literals;

namespace {

std::string uplink_tls(const TestPki& pki, const CertPair& c, const std::filesystem::path& token) {
  return "  tls:\n    enabled: true\n    server_name: localhost\n    ca_file: " +
         pki.ca().string() + "\n    cert_file: " + c.cert.string() +
         "\n    key_file: " + c.key.string() + "\n  token_file: " + token.string() + "\n";
}

// The agent logs "stream to HUB ended: CODE (message)" after each failed session.
bool agent_saw(Agent& a, int code) {
  return count_in(a.log_tail(), "ended: " + std::to_string(code) + " (") > 0;
}

}  // namespace

TEST_CASE(
    "mTLS and tokens admit the valid agent and reject wrong CA and expired and spoofed and bad "
    "token") {
  auto dir = make_temp_dir("hub-auth");
  TestPki pki(dir / "pki");
  const std::string sfx = std::to_string(::getpid());
  const std::string valid_id = "gw-valid-" + sfx, other_id = "gw-other-" + sfx;
  write_file(dir / "tokens", "# agent-id token\n" + valid_id + " tok-valid-s3cr3t\n" + other_id +
                                 " tok-other-s3cr3t\n\n");
  const auto tok = [&](const std::string& name, const std::string& value) {
    write_file(dir / name, value + "\n");
    return dir / name;
  };
  Mosquitto mq(dir / "mqtt");
  const auto topic = unique_topic("telemetry");
  HubYaml y{kafka_bootstrap(), topic};
  const auto srv = pki.server();
  y.hub_extra = "  tls:\n    enabled: true\n    ca_file: " + pki.ca().string() +
                "\n    cert_file: " + srv.cert.string() + "\n    key_file: " + srv.key.string() +
                "\n    require_client_cert: true\n  tokens_file: " + (dir / "tokens").string() +
                "\n";
  HubProcess hub(dir / "hub", y);
  hub.start();

  struct Case {
    std::string name, id;
    CertPair cert;
    std::filesystem::path token;
    int code;  // gRPC status the agent must see
  };
  // Every agent has its own id (one MQTT session and one hub stream per agent id).
  const std::string badtok_id = "gw-badtok-" + sfx;
  std::vector<Case> cases = {
      {"wrong CA", "gw-foreign-" + sfx, pki.foreign_agent("gw-foreign-" + sfx),
       tok("t-foreign", "tok-valid-s3cr3t"), 14},
      {"expired", "gw-expired-" + sfx, pki.expired_agent("gw-expired-" + sfx),
       tok("t-expired", "tok-valid-s3cr3t"), 14},
      {"spoofed id (cert of another agent)", "gw-spoof-" + sfx, pki.agent(valid_id),
       tok("t-spoof-cert", "tok-valid-s3cr3t"), 7},
      {"spoofed id (token of another agent)", other_id, pki.agent(other_id),
       tok("t-spoof-token", "tok-valid-s3cr3t"), 7},
      {"bad token", badtok_id, pki.agent(badtok_id), tok("t-bad", "rotated-later"), 16},
  };

  std::vector<std::unique_ptr<Agent>> rejected;
  for (const auto& c : cases) {
    AgentOptions o;
    o.agent_id = c.id;
    o.mqtt_uri = mq.uri();
    o.hub = hub.address();
    rejected.push_back(
        std::make_unique<Agent>(dir / ("agent-" + std::to_string(rejected.size())), o));
    write_agent_config(*rejected.back(), o, uplink_tls(pki, c.cert, c.token));
    rejected.back()->start();
  }
  AgentOptions vo;
  vo.agent_id = valid_id;
  vo.mqtt_uri = mq.uri();
  vo.hub = hub.address();
  Agent valid(dir / "valid", vo);
  write_agent_config(valid, vo,
                     uplink_tls(pki, pki.agent(valid_id), tok("t-valid", "tok-valid-s3cr3t")));
  valid.start();
  REQUIRE_MESSAGE(valid.wait_subscribed(), valid.log_tail());
  for (auto& a : rejected) REQUIRE_MESSAGE(a->wait_subscribed(), a->log_tail());

  auto sim = run_sim(mq.uri(), {"--devices", "2", "--count", "500"});
  REQUIRE(sim.acked == 1000);
  auto recs = read_topic(topic, 1000, 120s);
  const auto rep = check_seqs(recs, valid_id, 1000);
  CHECK(rep.distinct == 1000);
  CHECK(rep.gaps == 0);
  CHECK(wait_until([&] { return valid.status().records == 0; }, 30s));

  for (std::size_t i = 0; i < cases.size(); ++i) {
    Agent& a = *rejected[i];
    CHECK_MESSAGE(wait_until([&] { return agent_saw(a, cases[i].code); }, 20s),
                  cases[i].name << ": " << a.log_tail());
    CHECK_MESSAGE(a.status().records == 1000, cases[i].name);  // kept, nothing acked
    for (int other : {0, 7, 16}) {
      if (other != cases[i].code) CHECK_MESSAGE(!agent_saw(a, other), cases[i].name);
    }
  }
  CHECK(hub.metric("edgesync_hub_streams_rejected_total{reason=\"permission_denied\"}") >= 2);
  CHECK(hub.metric("edgesync_hub_streams_rejected_total{reason=\"unauthenticated\"}") >= 1);
  const std::string log = read_file(hub.log());
  CHECK(count_in(log, "hello claims agent") >= 2);
  CHECK(count_in(log, "ipv4:127.0.0.1:") >= 2);  // rejections name the peer address
  CHECK(count_in(log, "s3cr3t") == 0);           // tokens are never logged
  CHECK(count_in(log, "rotated-later") == 0);

  // Token rotation without a restart: the bad-token agent's token becomes valid.
  Agent& rotated = *rejected.back();
  write_file(dir / "tokens", valid_id + " tok-valid-s3cr3t\n" + badtok_id + " rotated-later\n");
  CHECK_MESSAGE(wait_until([&] { return rotated.status().records == 0; }, 60s), rotated.log_tail());
  CHECK(count_in(read_file(hub.log()), "reloaded 2 agent token(s)") >= 1);
  auto all = read_topic(topic, 2000, 120s);
  const auto rep2 = check_seqs(all, badtok_id, 1000);
  CHECK(rep2.distinct == 1000);

  // Rotation on the agent side without a restart: the agent re-reads its token file at every
  // reconnect. The "token of another agent" agent gets its own token and the hub knows it again.
  Agent& spoofer = *rejected[3];
  write_file(dir / "tokens", valid_id + " tok-valid-s3cr3t\n" + badtok_id + " rotated-later\n" +
                                 other_id + " tok-other-s3cr3t\n");
  write_file(dir / "t-spoof-token", "tok-other-s3cr3t\n");
  CHECK_MESSAGE(wait_until([&] { return spoofer.status().records == 0; }, 60s), spoofer.log_tail());
  CHECK(count_in(spoofer.log_tail(), "changed; using the new token") >= 1);
  CHECK(count_in(spoofer.log_tail(), "s3cr3t") == 0);
  auto all3 = read_topic(topic, 3000, 120s);
  CHECK(check_seqs(all3, other_id, 1000).distinct == 1000);
  MESSAGE("auth: valid agent delivered " << rep.distinct << " records, rotated agent "
                                         << rep2.distinct
                                         << " after the token reload; rejected streams "
                                         << hub.metric_sum("edgesync_hub_streams_rejected_total"));

  for (auto& a : rejected) a->stop();
  CHECK(valid.stop() == 0);
  CHECK(hub.stop() == 0);
}
