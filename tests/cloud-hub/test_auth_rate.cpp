// Token table parsing, constant-time compare, certificate identity matching, token buckets, and
// the per-agent rate limit end to end with the agent's real Uplink over in-process gRPC.
#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>

#include <mutex>
#include <set>
#include <thread>

#include "auth.hpp"
#include "buffer/sqlite_buffer.hpp"
#include "process.hpp"
#include "rate_limiter.hpp"
#include "sync_service.hpp"
#include "uplink/uplink.hpp"

using namespace edgesync;
using namespace std::chrono_literals;

TEST_CASE("token table parses ids and tokens and ignores comments") {
  auto t = hub::TokenTable::parse("# comment\n\ngw-1 tok1\n  gw-2\ttok2  # trailing\r\n");
  CHECK(t.size() == 2);
  CHECK(t.owner_of("tok1") == "gw-1");
  CHECK(t.owner_of("tok2") == "gw-2");
  CHECK(t.owner_of("tok") == "");
  CHECK(t.owner_of("") == "");
  CHECK_THROWS_WITH_AS(hub::TokenTable::parse("gw-1 tok1\ngw-2\n"),
                       "line 2: expected `agent-id token`", std::invalid_argument);
  CHECK_THROWS_AS(hub::TokenTable::parse("gw-1 a b\n"), std::invalid_argument);
}

TEST_CASE("constant time compare and certificate identities") {
  CHECK(hub::constant_time_equal("abc", "abc"));
  CHECK_FALSE(hub::constant_time_equal("abc", "abd"));
  CHECK_FALSE(hub::constant_time_equal("abc", "abcd"));
  CHECK(hub::constant_time_equal("", ""));
  CHECK(hub::certificate_proves({"gw-1", "gw-1.example"}, "gw-1"));
  CHECK(hub::certificate_proves({"edgesync-agent", "spiffe://edgesync/agent/gw-7"}, "gw-7"));
  CHECK_FALSE(hub::certificate_proves({"gw-1"}, "gw-2"));
  CHECK_FALSE(hub::certificate_proves({"gw-10"}, "gw-1"));
}

TEST_CASE("token bucket admits the burst then refuses with the time to wait") {
  const auto t0 = hub::TokenBucket::Clock::now();
  hub::TokenBucket b(100, 200, t0);
  CHECK(b.take(150, t0).count() == 0);
  const auto w = b.take(100, t0);  // 50 left, 50 missing at 100/s
  CHECK(w.count() == 500);
  CHECK(b.take(100, t0 + 500ms).count() == 0);
  // A request larger than the bucket passes when the bucket is full, then owes.
  hub::TokenBucket big(10, 20, t0);
  CHECK(big.take(50, t0).count() == 0);
  CHECK(big.take(1, t0 + 1s).count() > 0);
  hub::TokenBucket off(0, 0, t0);
  CHECK(off.take(1e9, t0).count() == 0);
}

TEST_CASE("agent rate limiter keeps records and bytes buckets per agent") {
  hub::AgentRateLimiter l({100, 1000, 1});
  const auto t0 = hub::TokenBucket::Clock::now();
  CHECK(l.admit("a", 100, 500, t0).count() == 0);
  CHECK(l.admit("a", 10, 10, t0).count() > 0);     // records exhausted
  CHECK(l.admit("b", 100, 500, t0).count() == 0);  // another agent has its own bucket
  CHECK(l.admit("b", 1, 600, t0).count() > 0);     // bytes exhausted
  CHECK(l.admit("b", 1, 600, t0 + 200ms).count() == 0);
}

namespace {

class CountingSink : public hub::Sink {
 public:
  hub::ProduceStatus produce(const hub::SinkRecord& r, hub::DeliverySlot* slot,
                             hub::DeliveryResult*) override {
    {
      std::lock_guard lk(mu_);
      seqs_.insert(r.seq);
    }
    slot->listener->on_delivery(*slot, hub::DeliveryResult{});
    return hub::ProduceStatus::kQueued;
  }
  hub::ProduceStatus produce_dead_letter(const hub::SinkRecord&, std::string_view,
                                         hub::DeliverySlot*, hub::DeliveryResult* r) override {
    *r = {false, hub::ErrorClass::kPermanent, "NO_DEAD_LETTER_TOPIC", ""};
    return hub::ProduceStatus::kFailed;
  }
  bool flush(std::chrono::milliseconds) override { return true; }
  std::size_t in_flight() const override { return 0; }
  std::size_t distinct() {
    std::lock_guard lk(mu_);
    return seqs_.size();
  }

 private:
  std::mutex mu_;
  std::set<std::uint64_t> seqs_;
};

}  // namespace

TEST_CASE("rate limited agent gets RESOURCE_EXHAUSTED with a retry hint and recovers") {
  CountingSink sink;
  hub::HubConfig cfg;
  cfg.hub_id = "unit-hub";
  cfg.rate_records_per_s = 400;
  cfg.rate_burst_s = 1;
  cfg.shutdown_grace = 1000ms;
  hub::HubMetrics metrics;
  hub::SyncService service(cfg, sink, &metrics);
  int port = 0;
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&service);
  auto server = b.BuildAndStart();

  // A raw client: the second batch in a row is over the limit.
  {
    auto stub = v1::Sync::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                      grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    auto s = stub->Stream(&ctx);
    v1::AgentMessage m;
    m.mutable_hello()->set_agent_id("raw-agent");
    m.mutable_hello()->set_epoch(1);
    m.mutable_hello()->set_next_seq(801);
    m.mutable_hello()->set_first_unacked_seq(1);
    REQUIRE(s->Write(m));
    v1::HubMessage r;
    REQUIRE(s->Read(&r));
    for (std::uint64_t batch = 1; batch <= 2; ++batch) {
      v1::AgentMessage bm;
      bm.mutable_batch()->set_batch_id(batch);
      for (std::uint64_t i = 1; i <= 400; ++i) {
        auto* rec = bm.mutable_batch()->add_records();
        rec->set_seq((batch - 1) * 400 + i);
        rec->set_mqtt_topic("sensors/d/x");
      }
      s->Write(bm);
    }
    while (s->Read(&r)) {
    }
    const auto st = s->Finish();
    CHECK(st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    const auto& tm = ctx.GetServerTrailingMetadata();
    REQUIRE(tm.count("retry-after-ms") == 1);
    const auto hint = std::stoi(std::string(tm.find("retry-after-ms")->second.data(),
                                            tm.find("retry-after-ms")->second.size()));
    MESSAGE("retry-after-ms hint: " << hint);
    CHECK(hint > 0);
    CHECK(hint <= 1000);
  }

  // The real agent: 2000 records at 400/s -> limited, honours the hint, delivers everything.
  auto dir = test::make_temp_dir("rate");
  agent::SqliteBuffer buf({(dir / "b.db").string(), false, 256, 2000});
  for (int i = 0; i < 2000; ++i) {
    agent::IncomingMessage m;
    m.device_id = "d";
    m.topic = "sensors/d/x";
    m.payload = std::to_string(i);
    m.qos = 1;
    buf.append(std::move(m));
  }
  agent::AgentConfig::Uplink u;
  u.hub = "127.0.0.1:" + std::to_string(port);
  u.batch_max_records = 200;
  u.max_inflight_batches = 4;
  u.backoff_initial = 10ms;
  u.backoff_max = 50ms;
  const auto t0 = std::chrono::steady_clock::now();
  agent::Uplink up(u, "agent-rate", buf);
  up.start();
  CHECK(test::wait_until([&] { return buf.first_unacked_seq() == 0 && buf.next_seq() == 2001; },
                         60s));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  up.stop(1s);
  CHECK(sink.distinct() >= 2000);
  CHECK(metrics.rate_limited_total() >= 1);
  MESSAGE("2000 records at a 400 records/s limit took "
          << secs << " s, " << up.counters().sessions.load() << " sessions, "
          << metrics.rate_limited_total() << " rate-limit rejections");
  service.begin_drain();
  server->Shutdown(std::chrono::system_clock::now() + 2s);
}
