// The agent's real Uplink + SqliteBuffer against the hub's real SyncService over in-process
// gRPC, with a sink that delivers out of order and can fail chosen deliveries.
#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <random>
#include <set>
#include <thread>

#include "process.hpp"
#include "sqlite_buffer.hpp"
#include "sync_service.hpp"
#include "uplink.hpp"

using namespace edgesync;
using namespace std::chrono_literals;

namespace {

// Delivers from its own thread in shuffled order, like partitions completing independently.
class FakeSink : public hub::Sink {
 public:
  explicit FakeSink(std::set<std::uint64_t> fail_once) : fail_once_(std::move(fail_once)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeSink() override {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    thread_.join();
  }
  hub::ProduceStatus produce(const hub::SinkRecord& r, std::shared_ptr<hub::DeliveryListener> l,
                             std::string*) override {
    std::lock_guard lk(mu_);
    queue_.emplace_back(r.seq, std::move(l));
    ++in_flight_;
    return hub::ProduceStatus::kQueued;
  }
  bool flush(std::chrono::milliseconds) override { return true; }
  std::size_t in_flight() const override { return in_flight_; }
  std::set<std::uint64_t> delivered() {
    std::lock_guard lk(mu_);
    return delivered_;
  }
  std::size_t produced_total() {
    std::lock_guard lk(mu_);
    return produced_;
  }

 private:
  void loop() {
    std::mt19937 rng(7);
    for (;;) {
      std::vector<std::pair<std::uint64_t, std::shared_ptr<hub::DeliveryListener>>> batch;
      {
        std::lock_guard lk(mu_);
        if (stop_) return;
        batch.swap(queue_);
      }
      std::shuffle(batch.begin(), batch.end(), rng);
      for (auto& [seq, l] : batch) {
        bool ok;
        {
          std::lock_guard lk(mu_);
          ok = !fail_once_.erase(seq);
          if (ok) delivered_.insert(seq);
          ++produced_;
          --in_flight_;
        }
        l->on_delivery(seq, ok, ok ? "" : "injected failure");
      }
      std::this_thread::sleep_for(2ms);
    }
  }
  std::mutex mu_;
  std::vector<std::pair<std::uint64_t, std::shared_ptr<hub::DeliveryListener>>> queue_;
  std::set<std::uint64_t> fail_once_, delivered_;
  std::size_t produced_ = 0;
  std::atomic<std::size_t> in_flight_{0};
  bool stop_ = false;
  std::thread thread_;
};

// Checks invariant 3 at the moment of every ack: all records <= the ack were delivered.
class CheckingBuffer : public agent::Buffer {
 public:
  CheckingBuffer(agent::Buffer& inner, FakeSink& sink) : inner_(inner), sink_(sink) {}
  agent::AppendStatus append(agent::IncomingMessage m) override {
    return inner_.append(std::move(m));
  }
  std::vector<agent::StoredRecord> read_after(std::uint64_t a, std::size_t n,
                                              std::size_t b) override {
    return inner_.read_after(a, n, b);
  }
  void ack_through(std::uint64_t through) override {
    auto delivered = sink_.delivered();
    for (std::uint64_t s = 1; s <= through; ++s) {
      if (!delivered.count(s)) violations_++;
    }
    max_ack_ = std::max(max_ack_.load(), through);
    if (!drop_acks_) inner_.ack_through(through);
  }
  bool wait_for_records(std::uint64_t a, std::chrono::milliseconds t) override {
    return inner_.wait_for_records(a, t);
  }
  std::uint64_t first_unacked_seq() override { return inner_.first_unacked_seq(); }
  std::uint64_t next_seq() override { return inner_.next_seq(); }
  std::uint64_t next_epoch() override { return inner_.next_epoch(); }
  agent::BufferStats stats() override { return inner_.stats(); }
  std::atomic<int> violations_{0};
  std::atomic<std::uint64_t> max_ack_{0};
  std::atomic<bool> drop_acks_{false};  // simulates acks lost on the way (crash before delete)

 private:
  agent::Buffer& inner_;
  FakeSink& sink_;
};

struct Harness {
  explicit Harness(std::set<std::uint64_t> fail_once) : sink(std::move(fail_once)) {
    cfg.hub_id = "unit-hub";
    cfg.max_inflight_records = 300;
    cfg.shutdown_grace = 2000ms;
    service = std::make_unique<hub::SyncService>(cfg, sink);
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(service.get());
    server = b.BuildAndStart();
  }
  ~Harness() {
    service->begin_drain();
    server->Shutdown(std::chrono::system_clock::now() + 2s);
  }
  hub::HubConfig cfg;
  FakeSink sink;
  std::unique_ptr<hub::SyncService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

agent::AgentConfig::Uplink uplink_cfg(int port) {
  agent::AgentConfig::Uplink u;
  u.hub = "127.0.0.1:" + std::to_string(port);
  u.batch_max_records = 50;
  u.max_inflight_batches = 4;
  u.backoff_initial = 20ms;
  u.backoff_max = 200ms;
  return u;
}

void fill(agent::Buffer& b, int n) {
  for (int i = 0; i < n; ++i) {
    agent::IncomingMessage m;
    m.device_id = "d" + std::to_string(i % 5);
    m.topic = "sensors/" + m.device_id + "/x";
    m.payload = std::to_string(i);
    m.qos = 1;
    b.append(std::move(m));
  }
}

}  // namespace

TEST_CASE("every record reaches the sink and the buffer empties and acks never run ahead") {
  Harness h({});
  auto dir = test::make_temp_dir("sync1");
  agent::SqliteBuffer real({(dir / "b.db").string(), false, 256, 2000});
  CheckingBuffer buf(real, h.sink);
  fill(buf, 2000);
  agent::Uplink up(uplink_cfg(h.port), "agent-1", buf);
  up.start();
  CHECK(
      test::wait_until([&] { return real.first_unacked_seq() == 0 && buf.max_ack_ == 2000; }, 30s));
  up.stop(1s);
  CHECK(h.sink.delivered().size() == 2000);
  CHECK(buf.violations_ == 0);
  CHECK(h.service->counters().records_in.load() == 2000);
}

TEST_CASE("a failed delivery is never acked and the agent resends after the stream closes") {
  Harness h({137, 1500});
  auto dir = test::make_temp_dir("sync2");
  agent::SqliteBuffer real({(dir / "b.db").string(), false, 256, 2000});
  CheckingBuffer buf(real, h.sink);
  fill(buf, 2000);
  agent::Uplink up(uplink_cfg(h.port), "agent-2", buf);
  up.start();
  CHECK(
      test::wait_until([&] { return real.first_unacked_seq() == 0 && buf.max_ack_ == 2000; }, 30s));
  up.stop(1s);
  auto d = h.sink.delivered();
  CHECK(d.size() == 2000);
  CHECK(d.count(137) == 1);
  CHECK(d.count(1500) == 1);
  CHECK(buf.violations_ == 0);
  CHECK(up.counters().sessions.load() >= 2);  // reconnected after each failure
  CHECK(h.service->counters().delivery_failures.load() >= 1);
}

TEST_CASE("a reconnect to the same hub skips what it already knows is durable") {
  Harness h({});
  auto dir = test::make_temp_dir("sync3");
  agent::SqliteBuffer real({(dir / "b.db").string(), false, 0, 2000});
  CheckingBuffer buf(real, h.sink);
  fill(buf, 500);
  buf.drop_acks_ = true;  // the agent never deletes: as if every ack was lost
  {
    agent::Uplink up(uplink_cfg(h.port), "agent-3", buf);
    up.start();
    CHECK(test::wait_until([&] { return buf.max_ack_ == 500; }, 30s));
    up.stop(1s);
  }
  CHECK(real.first_unacked_seq() == 1);  // all 500 still stored
  buf.drop_acks_ = false;
  fill(buf, 100);
  agent::Uplink up(uplink_cfg(h.port), "agent-3", buf);
  up.start();
  CHECK(
      test::wait_until([&] { return real.first_unacked_seq() == 0 && buf.max_ack_ == 600; }, 30s));
  up.stop(1s);
  CHECK(h.sink.produced_total() == 600);  // the 500 were not written twice
  CHECK(buf.violations_ == 0);
}

TEST_CASE("a hello with an older epoch than a live session is refused") {
  Harness h({});
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(h.port),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::Sync::NewStub(channel);
  auto open = [&](std::uint64_t epoch, grpc::ClientContext& ctx) {
    auto s = stub->Stream(&ctx);
    v1::AgentMessage m;
    m.mutable_hello()->set_agent_id("agent-4");
    m.mutable_hello()->set_epoch(epoch);
    s->Write(m);
    return s;
  };
  grpc::ClientContext c1, c2;
  auto s1 = open(100, c1);
  v1::HubMessage r;
  REQUIRE(s1->Read(&r));
  CHECK(r.has_welcome());
  auto s2 = open(50, c2);
  CHECK_FALSE(s2->Read(&r));
  CHECK(s2->Finish().error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  c1.TryCancel();
  s1->Finish();
}
