// A full disk is a state, not a crash: SQLITE_FULL emulated with max_page_count, and a real full
// file system (a small tmpfs; those cases are skipped with a message when mount is not allowed).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "buffer/disk_reserve.hpp"
#include "buffer/sqlite_buffer.hpp"
#include "buffer_support.hpp"
#include "cli/inspect.hpp"
#include "process.hpp"
#include "tmpfs.hpp"

using namespace edgesync::agent;
using namespace std::chrono_literals;
using edgesync::test::wait_until;

namespace {

IncomingMessage msg(int i, std::size_t size = 200) {
  IncomingMessage m;
  m.device_id = "dev";
  m.topic = "s/dev/x";
  m.payload = std::string(size, static_cast<char>('a' + i % 26));
  m.received_unix_ns = 1'700'000'000'000'000'000 + i;
  m.qos = 1;
  return m;
}

SqliteBufferOptions base(const std::filesystem::path& dir) {
  return edgesync::test::buffer_options(dir);
}
using edgesync::test::drops;

using edgesync::test::Tmpfs;

// Fills the file system holding `dir` with a file until ENOSPC.
void fill(const std::filesystem::path& file) {
  std::ofstream f(file, std::ios::binary);
  const std::string block(4096, 'z');
  while (f.write(block.data(), static_cast<std::streamsize>(block.size()))) {
  }
}

}  // namespace

TEST_CASE("disk full under block holds appends, lets acks through and resumes by itself") {
  auto dir = edgesync::test::make_temp_dir("dfull-block");
  auto o = base(dir);
  o.max_page_count = 64;  // 256 KiB with 4 KiB pages: SQLITE_FULL like a full disk
  o.full_policy = FullPolicy::kBlock;
  o.commit_window = 16;
  SqliteBuffer b(o);
  std::atomic<int> appended{0};
  std::jthread producer([&] {
    for (int i = 0; i < 3000; ++i) {
      if (b.append(msg(i)) != AppendStatus::kAccepted) return;
      ++appended;
    }
  });
  // The producer gets held: the disk is full and nothing may be dropped.
  REQUIRE(wait_until([&] { return b.stats().disk_full; }, 10s));
  const int held_at = appended.load();
  std::this_thread::sleep_for(500ms);
  CHECK(appended.load() <= held_at + 16);  // at most the commit window moved on
  CHECK(drops(b, DropReason::kDiskFull) == 0);
  CHECK(drops(b, DropReason::kOldest) == 0);
  // Acks free pages: the writer lets them through first, then the held batch fits.
  for (int round = 0; round < 200 && appended.load() < 3000; ++round) {
    b.ack_through(b.next_seq() - 1);
    std::this_thread::sleep_for(50ms);
  }
  producer.join();
  CHECK(appended.load() == 3000);
  CHECK(wait_until([&] { return b.next_seq() == 3001; }, 10s));
  CHECK(drops(b, DropReason::kDiskFull) == 0);  // block never drops
  b.ack_through(3000);
  CHECK(wait_until([&] { return b.stats().records == 0; }, 10s));
}

TEST_CASE("next_epoch never throws on a full disk and stays strictly increasing") {
  auto dir = edgesync::test::make_temp_dir("dfull-epoch");
  Tmpfs fs(dir / "disk", "2m");
  if (!fs.mounted()) {
    MESSAGE("SKIPPED: cannot mount a tmpfs (needs root or CAP_SYS_ADMIN)");
    return;
  }
  auto o = base(dir / "disk");
  o.disk_reserve_bytes = 0;  // nothing to release: the hardest case
  std::uint64_t last = 0;
  {
    SqliteBuffer b(o);
    for (int i = 0; i < 20; ++i) b.append(msg(i));
    last = b.next_epoch();
    fill(dir / "disk" / "filler");
    std::uint64_t prev = last;
    for (int i = 0; i < 50; ++i) {
      std::uint64_t e = 0;
      CHECK_NOTHROW(e = b.next_epoch());
      CHECK(e > prev);
      prev = e;
    }
    last = prev;
    // Space returns: the in-memory epoch is persisted with the next commit.
    std::filesystem::remove(dir / "disk" / "filler");
    b.append(msg(99));
    CHECK(b.next_seq() == 22);
  }
  SqliteBuffer again(o);
  CHECK(again.next_epoch() > last);
}

TEST_CASE("a store opens on a full disk with the reserve and is never quarantined for it") {
  auto dir = edgesync::test::make_temp_dir("dfull-open");
  Tmpfs fs(dir / "disk", "8m");
  if (!fs.mounted()) {
    MESSAGE("SKIPPED: cannot mount a tmpfs (needs root or CAP_SYS_ADMIN)");
    return;
  }
  auto o = base(dir / "disk");
  o.disk_reserve_bytes = std::uint64_t{512} * 1024;
  {
    SqliteBuffer b(o);
    for (int i = 0; i < 100; ++i) b.append(msg(i));
  }
  REQUIRE(std::filesystem::exists(o.path + ".reserve"));
  fill(dir / "disk" / "filler");
  CHECK(free_disk_bytes(o.path) < 64 * 1024);
  {
    SqliteBuffer b(o);  // releases the reserve, opens, keeps every record
    CHECK(b.open_result().quarantined_to.empty());
    CHECK(b.stats().records == 100);
    CHECK(b.next_seq() == 101);
    CHECK_FALSE(std::filesystem::exists(o.path + ".reserve"));
    CHECK(b.append(msg(100)) == AppendStatus::kAccepted);  // the reserve's room is usable
  }
  // No reserve and no space: a clear error, and still no quarantine.
  fill(dir / "disk" / "filler2");
  o.quick_check = true;
  try {
    SqliteBuffer b(o);
    // Opening may still succeed when SQLite needs no new page (the -shm exists): fine too.
    CHECK(b.open_result().quarantined_to.empty());
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("full") != std::string::npos);
  }
  for (const auto& f : std::filesystem::directory_iterator(dir / "disk")) {
    CHECK(f.path().filename().string().find("corrupt") == std::string::npos);
  }
}

TEST_CASE("drop-oldest on a real full disk goes on, counts every drop and takes the reserve back") {
  auto dir = edgesync::test::make_temp_dir("dfull-fs");
  Tmpfs fs(dir / "disk", "8m");
  if (!fs.mounted()) {
    MESSAGE("SKIPPED: cannot mount a tmpfs (needs root or CAP_SYS_ADMIN)");
    return;
  }
  auto o = base(dir / "disk");
  o.disk_reserve_bytes = 1 << 20;
  o.commit_window = 256;
  o.maintenance_interval = 1s;
  SqliteBuffer b(o);
  constexpr int kTotal = 60000;  // ~15 MB of records into 8 MiB
  for (int i = 0; i < kTotal; ++i) REQUIRE(b.append(msg(i)) == AppendStatus::kAccepted);
  REQUIRE(wait_until([&] { return b.next_seq() == kTotal + 1; }, 30s));
  const auto s = b.stats();
  CHECK(s.disk_full);
  CHECK(drops(b, DropReason::kDiskFull) > 0);
  CHECK(s.records + drops(b, DropReason::kDiskFull) == kTotal);
  auto recs = b.read_after(0, kTotal, 1u << 30);
  REQUIRE_FALSE(recs.empty());
  CHECK(recs.back().seq == kTotal);  // the newest survived, the oldest went
  CHECK(recs.front().seq == drops(b, DropReason::kDiskFull) + 1);
  // Acks free the space: the state ends and the reserve is back, without a restart.
  b.ack_through(kTotal);
  CHECK(wait_until([&] { return !b.stats().disk_full; }, 30s));
  CHECK(wait_until([&] { return std::filesystem::exists(o.path + ".reserve"); }, 30s));
  CHECK(b.append(msg(kTotal)) == AppendStatus::kAccepted);
  CHECK(wait_until([&] { return b.next_seq() == kTotal + 2; }, 10s));
}
