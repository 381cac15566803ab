// The agent's real Uplink + SqliteBuffer against the hub's real SyncService over in-process
// gRPC, with a sink that delivers out of order and can fail chosen deliveries.
#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <random>
#include <set>
#include <thread>

#include "buffer/sqlite_buffer.hpp"
#include "fake_sink.hpp"
#include "process.hpp"
#include "sync_service.hpp"
#include "uplink/uplink.hpp"

using namespace edgesync;
using namespace std::chrono_literals;

namespace {

agent::SqliteBufferOptions buffer_opts(std::string path, std::size_t window = 256) {
  agent::SqliteBufferOptions o;
  o.path = std::move(path);
  o.synchronous_full = false;
  o.commit_window = window;
  o.max_commit_batch = 2000;
  // These suites are about the stream, not the card: the low-latency setting (the shipped 1000 ms
  // gather made each of them wait seconds for commits and acked deletes).
  o.commit_delay = std::chrono::milliseconds(20);
  return o;
}

// Checks invariant 3 at the moment of every ack: all records <= the ack were delivered.
class CheckingBuffer : public agent::BufferReader {
 public:
  CheckingBuffer(agent::BufferReader& inner, test::FakeSink& sink) : inner_(inner), sink_(sink) {}
  std::vector<agent::StoredRecord> read_after(std::uint64_t a, std::size_t n,
                                              std::size_t b) override {
    return inner_.read_after(a, n, b);
  }
  void ack_through(std::uint64_t through) override {
    auto delivered = sink_.delivered();
    for (std::uint64_t s = 1; s <= through; ++s) {
      if (!delivered.count(s) && !dead_lettered_.count(s)) violations_++;
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
  std::string buffer_id() override { return inner_.buffer_id(); }
  bool dead_letter(std::uint64_t s, std::string_view r) override {
    if (fail_dead_letters_ > 0) {  // the move fails (disk full): the record must stay unacked
      --fail_dead_letters_;
      return false;
    }
    dead_lettered_.insert(s);  // from the ack reader thread, before the ack that covers it
    return inner_.dead_letter(s, r);
  }
  std::atomic<int> fail_dead_letters_{0};
  std::set<std::uint64_t> dead_lettered_;
  std::atomic<int> violations_{0};
  std::atomic<std::uint64_t> max_ack_{0};
  std::atomic<bool> drop_acks_{false};  // simulates acks lost on the way (crash before delete)

 private:
  agent::BufferReader& inner_;
  test::FakeSink& sink_;
};

struct Harness {
  explicit Harness(std::set<std::uint64_t> fail_once, std::set<std::uint64_t> permanent = {},
                   bool packed_batches = true)
      : sink(std::move(fail_once), std::move(permanent)) {
    cfg.hub_id = "unit-hub";
    cfg.packed_batches = packed_batches;  // false: a hub before FEATURE_PACKED_ZSTD
    cfg.max_inflight_records = 300;
    cfg.shutdown_grace = 2000ms;
    service = std::make_unique<hub::SyncService>(cfg, sink, &metrics);
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(service.get());
    server = b.BuildAndStart();
  }
  ~Harness() {
    service->begin_drain();
    server->Shutdown(std::chrono::system_clock::now() + 2s);
    server.reset();
    sink.close();
  }
  hub::HubConfig cfg;
  hub::HubMetrics metrics;
  test::FakeSink sink;
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

void fill(agent::BufferWriter& b, int n) {
  for (int i = 0; i < n; ++i) {
    agent::IncomingMessage m;
    m.device_id = "d" + std::to_string(i % 5);
    m.topic = "sensors/" + m.device_id + "/x";
    m.payload = std::to_string(i);
    m.qos = 1;
    // Stamped as the ingest stamps them: the buffer runs the shipped max_age (7 days).
    m.received_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    b.append(std::move(m));
  }
}

}  // namespace

TEST_CASE("every record reaches the sink and the buffer empties and acks never run ahead") {
  Harness h({});
  auto dir = test::make_temp_dir("sync1");
  agent::SqliteBuffer real(buffer_opts((dir / "b.db").string()));
  CheckingBuffer buf(real, h.sink);
  fill(real, 2000);
  agent::Uplink up(uplink_cfg(h.port), "agent-1", buf);
  up.start();
  CHECK(
      test::wait_until([&] { return real.first_unacked_seq() == 0 && buf.max_ack_ == 2000; }, 30s));
  up.stop(1s);
  CHECK(h.sink.delivered().size() == 2000);
  CHECK(buf.violations_ == 0);
  CHECK(h.metrics.records_in_total() == 2000);
}

TEST_CASE("a failed delivery is never acked and the agent resends after the stream closes") {
  Harness h({137, 1500});
  auto dir = test::make_temp_dir("sync2");
  agent::SqliteBuffer real(buffer_opts((dir / "b.db").string()));
  CheckingBuffer buf(real, h.sink);
  fill(real, 2000);
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
  CHECK(h.metrics.registry() != nullptr);
}

TEST_CASE("a reconnect to the same hub skips what it already knows is durable") {
  Harness h({});
  auto dir = test::make_temp_dir("sync3");
  agent::SqliteBuffer real(buffer_opts((dir / "b.db").string(), 0));
  CheckingBuffer buf(real, h.sink);
  fill(real, 500);
  buf.drop_acks_ = true;  // the agent never deletes: as if every ack was lost
  {
    agent::Uplink up(uplink_cfg(h.port), "agent-3", buf);
    up.start();
    CHECK(test::wait_until([&] { return buf.max_ack_ == 500; }, 30s));
    up.stop(1s);
  }
  CHECK(real.first_unacked_seq() == 1);  // all 500 still stored
  buf.drop_acks_ = false;
  fill(real, 100);
  agent::Uplink up(uplink_cfg(h.port), "agent-3", buf);
  up.start();
  CHECK(
      test::wait_until([&] { return real.first_unacked_seq() == 0 && buf.max_ack_ == 600; }, 30s));
  up.stop(1s);
  CHECK(h.sink.produced_total() == 600);  // the 500 were not written twice
  CHECK(buf.violations_ == 0);
}

TEST_CASE("a record Kafka refuses for good goes to the agent dead letters and the rest flows on") {
  Harness h({}, {77, 1234});
  auto dir = test::make_temp_dir("sync4");
  agent::SqliteBuffer real(buffer_opts((dir / "b.db").string()));
  CheckingBuffer buf(real, h.sink);
  fill(real, 2000);
  agent::Uplink up(uplink_cfg(h.port), "agent-4", buf);
  up.start();
  CHECK(
      test::wait_until([&] { return real.first_unacked_seq() == 0 && buf.max_ack_ == 2000; }, 30s));
  up.stop(1s);
  CHECK(buf.dead_lettered_ == std::set<std::uint64_t>{77, 1234});
  CHECK(h.sink.delivered().size() == 1998);
  CHECK(buf.violations_ == 0);
  CHECK(up.counters().sessions.load() == 1);  // no reconnect loop
  CHECK(up.counters().dead_lettered.load() == 2);
  CHECK(real.stats().dead_lettered == 2);
}

TEST_CASE("a dead-letter move that fails holds the ack below the record until a retry moves it") {
  Harness h({}, {77});
  auto dir = test::make_temp_dir("sync4b");
  agent::SqliteBuffer real(buffer_opts((dir / "b.db").string()));
  CheckingBuffer buf(real, h.sink);
  buf.fail_dead_letters_ = 2;  // twice the agent cannot move it: acks stop below it meanwhile
  fill(real, 500);
  agent::Uplink up(uplink_cfg(h.port), "agent-4b", buf);
  up.start();
  CHECK(
      test::wait_until([&] { return real.first_unacked_seq() == 0 && buf.max_ack_ == 500; }, 30s));
  up.stop(1s);
  CHECK(buf.violations_ == 0);  // never acked past 77 before it was moved
  CHECK(buf.dead_lettered_ == std::set<std::uint64_t>{77});
  CHECK(real.stats().dead_lettered == 1);  // kept, not lost
  CHECK(real.stats().dead_letter_rows == 1);
  CHECK(h.sink.delivered().size() == 499);
  CHECK(up.counters().sessions.load() == 1);
  CHECK(up.counters().dead_lettered.load() == 1);
}

namespace {

// Runs 2000 records through the real uplink and hub; returns the uplink's counters' view.
struct WireRun {
  std::uint64_t batches = 0, packed = 0, bytes = 0;
  std::chrono::steady_clock::duration took{};
};

WireRun run_wire(Harness& h, const std::string& name, agent::AgentConfig::Uplink u) {
  auto dir = test::make_temp_dir(name);
  agent::SqliteBuffer real(buffer_opts((dir / "b.db").string()));
  CheckingBuffer buf(real, h.sink);
  fill(real, 2000);
  agent::Uplink up(std::move(u), name, buf);
  const auto t0 = std::chrono::steady_clock::now();
  up.start();
  CHECK(
      test::wait_until([&] { return real.first_unacked_seq() == 0 && buf.max_ack_ == 2000; }, 60s));
  const auto took = std::chrono::steady_clock::now() - t0;
  up.stop(1s);
  CHECK(h.sink.delivered().size() == 2000);
  CHECK(buf.violations_ == 0);
  std::size_t payload = 0;
  for (int i = 0; i < 2000; ++i) payload += std::to_string(i).size();
  CHECK(h.sink.payload_bytes() == payload);   // every payload, byte count intact
  CHECK(up.counters().sessions.load() == 1);  // no refusal, no reconnect
  return {up.counters().batches_sent.load(), up.counters().packed_batches.load(),
          up.counters().stream_bytes.load(), took};
}

}  // namespace

TEST_CASE("the agent sends packed batches when the hub welcomes them, plain ones otherwise") {
  SUBCASE("a hub that offers FEATURE_PACKED_ZSTD") {
    Harness h({});
    const auto r = run_wire(h, "wire-packed", uplink_cfg(h.port));  // zstd is the default
    CHECK(r.batches >= 40);
    CHECK(r.packed == r.batches);
  }
  SUBCASE("a hub before packed batches (the feature left out of its welcome)") {
    Harness h({}, {}, false);
    const auto r = run_wire(h, "wire-old-hub", uplink_cfg(h.port));
    CHECK(r.batches >= 40);
    CHECK(r.packed == 0);
  }
  SUBCASE("an agent with compression none or gzip does not offer it") {
    Harness h({});
    auto u = uplink_cfg(h.port);
    u.compression = agent::AgentConfig::Uplink::Compression::kGzip;
    const auto r = run_wire(h, "wire-gzip", u);
    CHECK(r.packed == 0);
  }
}

TEST_CASE("packed batches put fewer bytes on the stream than plain ones") {
  std::uint64_t plain = 0, packed = 0;
  {
    Harness h({});
    auto u = uplink_cfg(h.port);
    u.compression = agent::AgentConfig::Uplink::Compression::kNone;
    plain = run_wire(h, "wire-bytes-none", u).bytes;
  }
  {
    Harness h({});
    packed = run_wire(h, "wire-bytes-zstd", uplink_cfg(h.port)).bytes;
  }
  MESSAGE("stream bytes for 2000 small records: plain " << plain << ", packed " << packed);
  CHECK(packed * 2 < plain);
}

TEST_CASE("the bandwidth cap paces what the uplink writes") {
  // Deterministic: the bucket alone, on a clock we move.
  const auto t0 = std::chrono::steady_clock::time_point{} + 100s;
  agent::ByteBucket bucket(1000, t0);
  CHECK(bucket.take(600, t0).count() == 0);  // a second's worth may go at once
  CHECK(bucket.take(400, t0).count() == 0);
  CHECK(bucket.take(500, t0) == 500ms);          // then each byte waits its turn
  CHECK(bucket.take(500, t0 + 500ms) == 500ms);  // (the debt of the previous one paid)
  CHECK(bucket.take(0, t0 + 10s).count() == 0);  // never more than a second banked
  CHECK(bucket.take(1500, t0 + 10s) == 500ms);
  CHECK(agent::ByteBucket(0, t0).take(1u << 30, t0).count() == 0);  // 0 = unlimited

  // The real uplink: 2000 records at 20 kB/s cannot take less than (bytes - 1 s of burst) / rate.
  Harness h({});
  auto u = uplink_cfg(h.port);
  u.max_bytes_per_s = 20000;
  u.compression = agent::AgentConfig::Uplink::Compression::kNone;  // more bytes: a longer run
  const auto r = run_wire(h, "wire-capped", u);
  const double secs = std::chrono::duration<double>(r.took).count();
  MESSAGE("capped run: " << r.bytes << " bytes in " << secs << " s");
  CHECK(r.bytes > 40000);
  CHECK(secs >= static_cast<double>(r.bytes - 20000) / 20000.0 * 0.99);
}
