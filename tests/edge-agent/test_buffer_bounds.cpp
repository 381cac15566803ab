// Buffer bounds, drop policies, expiry, corrupt-file quarantine, disk full, space reclaim.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "buffer/buffer_rescue.hpp"
#include "buffer/sqlite_buffer.hpp"
#include "buffer_support.hpp"
#include "cli/inspect.hpp"
#include "process.hpp"

using namespace edgesync::agent;
using namespace std::chrono_literals;
using edgesync::test::wait_until;

namespace {
IncomingMessage msg(int i, std::size_t size = 100, std::int64_t received_ns = 0) {
  IncomingMessage m;
  m.device_id = "dev";
  m.topic = "s/dev/x";
  m.payload = std::string(size, static_cast<char>('a' + i % 26));
  m.received_unix_ns = received_ns ? received_ns : 1'700'000'000'000'000'000 + i;
  m.qos = 1;
  return m;
}
SqliteBufferOptions base(const std::filesystem::path& dir) {
  return edgesync::test::buffer_options(dir);
}
using edgesync::test::drops;
const std::uint64_t kCost = record_cost(100, 7, 3);  // one msg() record
}  // namespace

TEST_CASE("drop-oldest keeps the newest records within max_bytes and counts every drop") {
  auto dir = edgesync::test::make_temp_dir("bound1");
  auto o = base(dir);
  o.max_bytes = 50 * kCost;
  {
    SqliteBuffer b(o);
    for (int i = 0; i < 200; ++i) b.append(msg(i));
    auto s = b.stats();
    CHECK(s.stored_bytes <= o.max_bytes);
    CHECK(s.records == 50);
    CHECK(drops(b, DropReason::kOldest) == 150);
    auto recs = b.read_after(0, 1000, 1 << 30);
    REQUIRE(recs.size() == 50);
    CHECK(recs.front().seq == 151);  // the newest 50, contiguous
    CHECK(recs.back().seq == 200);
  }
  SqliteBuffer again(o);  // counters are persisted
  CHECK(drops(again, DropReason::kOldest) == 150);
  CHECK(again.stats().records == 50);
}

TEST_CASE("block policy holds appends until acks free space") {
  auto dir = edgesync::test::make_temp_dir("bound2");
  auto o = base(dir);
  o.max_bytes = 10 * kCost;
  o.full_policy = FullPolicy::kBlock;
  SqliteBuffer b(o);
  std::atomic<int> done{0};
  std::thread producer([&] {
    for (int i = 0; i < 30; ++i) {
      b.append(msg(i));
      ++done;
    }
  });
  CHECK(wait_until([&] { return done.load() >= 10; }, 5s));
  std::this_thread::sleep_for(300ms);
  CHECK(done.load() <= 11);  // blocked at the bound (the 11th is accepted at the edge)
  CHECK(b.stats().full);
  b.ack_through(b.next_seq() - 1);  // the hub confirmed everything so far
  CHECK(wait_until([&] { return done.load() >= 20; }, 5s));
  b.ack_through(1000);
  for (int k = 0; k < 50 && done.load() < 30; ++k) {
    b.ack_through(b.next_seq() - 1);
    std::this_thread::sleep_for(50ms);
  }
  producer.join();
  CHECK(done.load() == 30);
  CHECK(drops(b, DropReason::kOldest) == 0);  // nothing dropped under "block"
}

TEST_CASE("records older than max_age are dropped and counted as expired") {
  auto dir = edgesync::test::make_temp_dir("bound3");
  auto o = base(dir);
  o.max_age = 60s;
  o.expiry_interval = 1s;
  SqliteBuffer b(o);
  const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  for (int i = 0; i < 20; ++i) b.append(msg(i, 100, now - 3'600'000'000'000LL));  // 1 h old
  for (int i = 0; i < 5; ++i) b.append(msg(i, 100, now));
  CHECK(wait_until([&] { return drops(b, DropReason::kExpired) == 20; }, 10s));
  auto recs = b.read_after(0, 100, 1 << 20);
  CHECK(recs.size() == 5);
  CHECK(recs.front().seq == 21);
}

TEST_CASE("a corrupt database file is quarantined and sequence numbers are not reused") {
  auto dir = edgesync::test::make_temp_dir("bound4");
  auto o = base(dir);
  {
    SqliteBuffer b(o);
    for (int i = 0; i < 100; ++i) b.append(msg(i));
  }
  {
    std::fstream f(o.path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f << std::string(4096, '\x5a');  // destroys the header page
  }
  SqliteBuffer b(o);
  CHECK_FALSE(b.open_result().quarantined_to.empty());
  CHECK(std::filesystem::exists(b.open_result().quarantined_to));
  CHECK(b.stats().quarantined_files == 1);
  CHECK(b.next_seq() > 100);  // continues above the floor kept outside the data
  b.append(msg(1));
  auto recs = b.read_after(0, 10, 1 << 20);
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].seq > 100);
}

TEST_CASE(
    "a well-formed file with seqs outside the buffer's space is quarantined, not stalled on") {
  // Found by fuzz_buffer_open: a row at seq 2^63-1 passes quick_check, and every later insert
  // failed, holding ingest for good (tests/fuzz/regressions/fuzz_buffer_open).
  auto dir = edgesync::test::make_temp_dir("bound4b");
  auto o = base(dir);
  {
    SqliteBuffer b(o);
    for (int i = 0; i < 5; ++i) b.append(msg(i));
  }
  {
    sqlite::Db db(o.path, SQLITE_OPEN_READWRITE);
    db.exec("UPDATE records SET seq = 9223372036854775807 WHERE seq = 5");
    db.exec("DELETE FROM meta WHERE key = 'next_seq'");
  }
  SqliteBuffer b(o);
  CHECK(b.open_result().quarantine_reason.find("outside [1, 2^62)") != std::string::npos);
  CHECK(b.stats().quarantined_files == 1);
  CHECK(b.append(msg(9)) == AppendStatus::kAccepted);
  auto recs = b.read_after(0, 10, 1 << 20);
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].seq > 5);
}

TEST_CASE("a file every write fails on is given up, reported and moved aside at the next start") {
  auto dir = edgesync::test::make_temp_dir("bound4c");
  auto o = base(dir);
  o.commit_window = 0;  // append waits for its commit
  {
    SqliteBuffer b(o);
    b.append(msg(0));
  }
  {
    // Sound to quick_check and within the seq space, yet no insert can succeed.
    sqlite::Db db(o.path, SQLITE_OPEN_READWRITE);
    db.exec("CREATE TRIGGER refuse BEFORE INSERT ON records BEGIN SELECT RAISE(ABORT, 'no'); END");
  }
  int failures_reported = 0;
  o.on_failure = [&] { ++failures_reported; };
  {
    SqliteBuffer b(o);
    // Not a hang: the writer gives up, keeps the queued message in the rescue file (accepted:
    // the next start stores it) and refuses what comes after.
    CHECK(b.append(msg(1)) == AppendStatus::kAccepted);
    CHECK(b.append(msg(2)) == AppendStatus::kFailed);
    const auto st = b.stats();
    CHECK(st.failed);
    CHECK(st.failure.find("constraint") != std::string::npos);
    CHECK(failures_reported == 1);
    CHECK(std::filesystem::exists(o.path + ".damaged"));
  }
  SqliteBuffer b(o);
  CHECK(b.open_result().quarantine_reason.find("could not write") != std::string::npos);
  CHECK(std::filesystem::exists(b.open_result().quarantined_to));
  CHECK_FALSE(std::filesystem::exists(o.path + ".damaged"));
  CHECK(b.stats().quarantined_files == 1);
  CHECK_FALSE(b.stats().failed);
  CHECK(b.append(msg(3)) == AppendStatus::kAccepted);
  const auto recs = b.read_after(0, 10, 1 << 20);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].payload == msg(1).payload);  // the rescued message, then the new one
  CHECK(recs[1].payload == msg(3).payload);
  CHECK(recs[0].seq > 1);  // above everything the failed file handed out
}

TEST_CASE(
    "a rescue file is read back byte-exact, and a cut or hostile one only as far as it is sound") {
  auto dir = edgesync::test::make_temp_dir("rescue");
  const std::string path = (dir / "b.db.damaged").string();
  std::vector<IncomingMessage> msgs{msg(1), msg(2, 3000)};
  msgs[1].payload[7] = '\0';
  msgs[1].qos = 2;
  REQUIRE(write_rescue(path, "why\nnot", msgs));
  auto r = read_rescue(path);
  REQUIRE(r);
  CHECK(r->reason == "why not");
  CHECK(r->damage.empty());
  REQUIRE(r->messages.size() == 2);
  CHECK(r->messages[1].payload == msgs[1].payload);
  CHECK(r->messages[1].qos == 2);
  CHECK(r->messages[0].received_unix_ns == msgs[0].received_unix_ns);
  const auto full = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, full - 10);  // cut inside the second message
  r = read_rescue(path);
  REQUIRE(r);
  CHECK(r->messages.size() == 1);
  CHECK(r->damage.find("after 1 messages") != std::string::npos);
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << "edgesync-rescue 1\nr\n" << std::string("\xff\xff\xff\x7f", 4) << "x";  // 2 GiB claimed
  }
  r = read_rescue(path);
  REQUIRE(r);
  CHECK(r->messages.empty());
  CHECK_FALSE(r->damage.empty());
  CHECK_FALSE(read_rescue((dir / "none").string()));
}

TEST_CASE("deleting the database file does not make sequence numbers restart") {
  auto dir = edgesync::test::make_temp_dir("bound5");
  auto o = base(dir);
  {
    SqliteBuffer b(o);
    for (int i = 0; i < 10; ++i) b.append(msg(i));
  }
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(o.path + s);
  SqliteBuffer b(o);
  CHECK(b.next_seq() > 10);
}

TEST_CASE("disk full under drop-oldest drops the oldest and keeps accepting") {
  auto dir = edgesync::test::make_temp_dir("bound6");
  auto o = base(dir);
  o.max_page_count = 64;  // 256 KiB with 4 KiB pages: SQLITE_FULL like a full disk
  SqliteBuffer b(o);
  for (int i = 0; i < 5000; ++i) REQUIRE(b.append(msg(i, 200)) == AppendStatus::kAccepted);
  auto s = b.stats();
  CHECK(s.commit_errors > 0);
  CHECK(drops(b, DropReason::kDiskFull) > 0);
  CHECK(s.next_seq == 5001);  // every message got committed at some point
  auto recs = b.read_after(0, 100000, 1 << 30);
  REQUIRE_FALSE(recs.empty());
  CHECK(recs.back().seq == 5000);                                // the newest survived
  CHECK(recs.size() + drops(b, DropReason::kDiskFull) == 5000);  // every loss is counted
}

TEST_CASE("space is handed back after a backlog drains") {
  auto dir = edgesync::test::make_temp_dir("bound7");
  auto o = base(dir);
  o.commit_window = 1000;
  o.maintenance_interval = 1s;
  SqliteBuffer b(o);
  for (int i = 0; i < 20000; ++i) b.append(msg(i, 1000));
  CHECK(wait_until([&] { return b.next_seq() == 20001; }, 20s));
  auto size = [&] { return std::filesystem::file_size(o.path); };
  const auto full = size();
  CHECK(full > 20'000'000);
  b.ack_through(20000);
  CHECK(wait_until([&] { return size() < full / 4; }, 15s));
  MESSAGE("database file " << full << " bytes with the backlog, " << size() << " after draining");
}
