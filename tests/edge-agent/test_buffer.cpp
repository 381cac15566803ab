#include <doctest/doctest.h>

#include <map>
#include <thread>

#include "buffer/sqlite_buffer.hpp"
#include "cli/inspect.hpp"
#include "process.hpp"

using namespace edgesync::agent;
using namespace std::chrono_literals;

namespace {
IncomingMessage msg(int i, const std::string& payload = {}) {
  IncomingMessage m;
  m.device_id = "dev-" + std::to_string(i % 3);
  m.topic = "sensors/" + m.device_id + "/data";
  m.payload = payload.empty() ? "payload-" + std::to_string(i) : payload;
  m.received_unix_ns = 1000 + i;
  m.qos = 1;
  return m;
}
// The shipped defaults (commit delay 20 ms, ...) with the window asked for; no expiry: msg()
// stamps records in 1970.
SqliteBufferOptions opts(const std::filesystem::path& dir, std::size_t window = 256) {
  SqliteBufferOptions o;
  o.path = (dir / "buffer.db").string();
  o.commit_window = window;
  o.max_age = std::chrono::seconds(0);
  return o;
}
}  // namespace

TEST_CASE("append assigns consecutive sequence numbers and reads back byte-exact") {
  auto dir = edgesync::test::make_temp_dir("buf1");
  SqliteBuffer b(opts(dir, 0));
  std::string binary("\x00\xff\xfe\x01 not utf-8 \xc3\x28", 17);
  for (int i = 0; i < 100; ++i)
    REQUIRE(b.append(msg(i, i == 50 ? binary : "")) == AppendStatus::kAccepted);
  auto recs = b.read_after(0, 1000, 1 << 20);
  REQUIRE(recs.size() == 100);
  for (std::size_t i = 0; i < recs.size(); ++i) {
    CHECK(recs[i].seq == i + 1);
    CHECK(recs[i].received_unix_ns == static_cast<std::int64_t>(1000 + i));
  }
  CHECK(recs[50].payload == binary);
  CHECK(recs[50].payload.size() == 17);
  CHECK(recs[7].device_id == "dev-1");
  CHECK(b.next_seq() == 101);
  CHECK(b.first_unacked_seq() == 1);
}

TEST_CASE("read_after respects max records and max bytes and returns at least one") {
  auto dir = edgesync::test::make_temp_dir("buf2");
  SqliteBuffer b(opts(dir, 0));
  for (int i = 0; i < 10; ++i) b.append(msg(i, std::string(1000, 'x')));
  CHECK(b.read_after(0, 3, 1 << 20).size() == 3);
  CHECK(b.read_after(0, 100, 2500).size() == 2);
  CHECK(b.read_after(0, 100, 10).size() == 1);
  CHECK(b.read_after(8, 100, 1 << 20).size() == 2);
}

TEST_CASE(
    "ack deletes through the seq and sequence numbers survive restarts and are never reused") {
  auto dir = edgesync::test::make_temp_dir("buf3");
  {
    SqliteBuffer b(opts(dir, 0));
    for (int i = 0; i < 10; ++i) b.append(msg(i));
    b.ack_through(4);
    CHECK(edgesync::test::wait_until([&] { return b.first_unacked_seq() == 5; }, 5s));
    b.ack_through(10);  // everything: the table is empty afterwards
    CHECK(edgesync::test::wait_until([&] { return b.first_unacked_seq() == 0; }, 5s));
    CHECK(b.stats().acked_total == 10);
  }
  {
    SqliteBuffer b(opts(dir, 0));
    CHECK(b.next_seq() == 11);  // not reused although no record is stored
    b.append(msg(99));
    auto recs = b.read_after(0, 10, 1 << 20);
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].seq == 11);
  }
}

TEST_CASE("acks are capped at what was committed") {
  auto dir = edgesync::test::make_temp_dir("buf4");
  SqliteBuffer b(opts(dir, 0));
  for (int i = 0; i < 3; ++i) b.append(msg(i));
  b.ack_through(1000);  // a confused hub cannot make the agent delete future records
  CHECK(edgesync::test::wait_until([&] { return b.first_unacked_seq() == 0; }, 5s));
  for (int i = 0; i < 3; ++i) b.append(msg(i));
  std::this_thread::sleep_for(100ms);
  CHECK(b.read_after(0, 10, 1 << 20).size() == 3);
}

TEST_CASE("records queued in the commit window are committed by stop()") {
  auto dir = edgesync::test::make_temp_dir("buf5");
  {
    SqliteBuffer b(opts(dir, 10000));
    for (int i = 0; i < 5000; ++i) b.append(msg(i));
    b.stop();
    CHECK(b.append(msg(1)) == AppendStatus::kStopped);
  }
  auto s = read_buffer_status((dir / "buffer.db").string());
  CHECK(s.records == 5000);
  CHECK(s.first_seq == 1);
  CHECK(s.last_seq == 5000);
  CHECK(s.next_seq == 5001);
}

TEST_CASE("group commit with concurrent appenders keeps per-producer order") {
  auto dir = edgesync::test::make_temp_dir("buf6");
  SqliteBuffer b(opts(dir, 64));
  std::vector<std::thread> ts;
  ts.reserve(4);
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) b.append(msg(t * 1000 + i));
    });
  }
  for (auto& t : ts) t.join();
  CHECK(edgesync::test::wait_until([&] { return b.next_seq() == 2001; }, 10s));
  auto recs = b.read_after(0, 5000, 1 << 30);
  REQUIRE(recs.size() == 2000);
  std::map<int, int> last_per_thread;
  for (const auto& r : recs) {
    int id = std::stoi(r.payload.substr(8));
    int t = id / 1000;
    if (last_per_thread.count(t)) CHECK(id > last_per_thread[t]);
    last_per_thread[t] = id;
  }
}

TEST_CASE("a commit delay gathers a slow trickle into few commits") {
  auto dir = edgesync::test::make_temp_dir("buf6b");
  auto o = opts(dir, 256);
  o.commit_delay = 400ms;
  SqliteBuffer b(o);
  // 20 messages over ~100 ms: without a delay every one of them gets its own fsynced commit.
  for (int i = 0; i < 20; ++i) {
    b.append(msg(i));
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(edgesync::test::wait_until([&] { return b.stats().committed_total == 20; }, 10s));
  CHECK(b.stats().commits <= 2);
  CHECK(b.read_after(0, 100, 1 << 20).size() == 20);
}

TEST_CASE("a full commit window commits at once whatever the commit delay") {
  auto dir = edgesync::test::make_temp_dir("buf6c");
  auto o = opts(dir, 100);
  o.commit_delay = 3600s;  // a gather that ignored the full window would never commit here
  SqliteBuffer b(o);
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) b.append(msg(i));
  });
  CHECK(edgesync::test::wait_until([&] { return b.stats().committed_total >= 900; }, 30s));
  producer.join();
  b.stop();  // stop commits the rest without waiting for the delay
  CHECK(b.stats().committed_total == 1000);
}

TEST_CASE("wait_for_records wakes on commit") {
  auto dir = edgesync::test::make_temp_dir("buf7");
  SqliteBuffer b(opts(dir, 0));
  CHECK_FALSE(b.wait_for_records(0, 50ms));
  std::thread t([&] {
    std::this_thread::sleep_for(100ms);
    b.append(msg(1));
  });
  CHECK(b.wait_for_records(0, 5s));
  t.join();
}

TEST_CASE("the session epoch only grows also across restarts") {
  auto dir = edgesync::test::make_temp_dir("buf8");
  std::uint64_t e1, e2, e3;
  {
    SqliteBuffer b(opts(dir));
    e1 = b.next_epoch();
    e2 = b.next_epoch();
  }
  {
    SqliteBuffer b(opts(dir));
    e3 = b.next_epoch();
  }
  CHECK(e2 > e1);
  CHECK(e3 > e2);
}

TEST_CASE("status reads a live buffer read-only") {
  auto dir = edgesync::test::make_temp_dir("buf9");
  SqliteBuffer b(opts(dir, 0));
  for (int i = 0; i < 7; ++i) b.append(msg(i, "abc"));
  auto s = read_buffer_status((dir / "buffer.db").string());
  CHECK(s.records == 7);
  CHECK(s.payload_bytes == 21);
  CHECK(s.next_seq == 8);
  CHECK_THROWS_WITH_AS(read_buffer_status((dir / "nope.db").string()),
                       doctest::Contains("no buffer database"), std::runtime_error);
}
