#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "ack_tracker.hpp"

using edgesync::hub::AckTracker;
using namespace std::chrono_literals;

TEST_CASE("out-of-order deliveries advance the watermark only over a complete prefix") {
  std::vector<std::uint64_t> durable_calls;
  AckTracker t(0, [&](std::uint64_t s) { durable_calls.push_back(s); });
  for (std::uint64_t s = 1; s <= 5; ++s) t.add(s);
  t.end_batch(1, 5);
  t.on_delivery(3, true, "");
  t.on_delivery(2, true, "");
  CHECK(t.durable_through() == 0);
  t.on_delivery(1, true, "");
  CHECK(t.durable_through() == 3);
  t.on_delivery(5, true, "");
  CHECK(t.durable_through() == 3);
  CHECK(t.pending() == 1);
  t.on_delivery(4, true, "");
  CHECK(t.durable_through() == 5);
  auto [through, batch] = t.wait_progress(0, 0, 10ms);
  CHECK(through == 5);
  CHECK(batch == 1);
  CHECK(durable_calls.back() == 5);
}

TEST_CASE("a failed delivery freezes the watermark below it for good") {
  AckTracker t(10, nullptr);
  for (std::uint64_t s = 11; s <= 14; ++s) t.add(s);
  t.on_delivery(11, true, "");
  t.on_delivery(12, false, "Local: Message timed out");
  t.on_delivery(13, true, "");
  t.on_delivery(14, true, "");
  CHECK(t.durable_through() == 11);
  std::string why;
  CHECK(t.failed(&why));
  CHECK(why.find("seq 12") != std::string::npos);
}

TEST_CASE("gaps in sequence numbers (records dropped at the edge) are fine") {
  AckTracker t(0, nullptr);
  t.add(5);
  t.add(9);
  t.end_batch(7, 9);
  t.on_delivery(9, true, "");
  t.on_delivery(5, true, "");
  CHECK(t.durable_through() == 9);
  auto [through, batch] = t.wait_progress(0, 0, 10ms);
  CHECK(batch == 7);
}

TEST_CASE("wait_room bounds records in flight") {
  AckTracker t(0, nullptr);
  for (std::uint64_t s = 1; s <= 3; ++s) t.add(s);
  CHECK_FALSE(t.wait_room(3, 10ms));
  t.on_delivery(1, true, "");
  CHECK(t.wait_room(3, 10ms));
}

TEST_CASE("the ack writer is woken once per durable batch, not per delivery report") {
  std::vector<std::uint64_t> durable_calls;
  AckTracker t(0, [&](std::uint64_t s) { durable_calls.push_back(s); });
  for (std::uint64_t s = 1; s <= 3; ++s) t.add(s);
  t.end_batch(7, 3);
  std::pair<std::uint64_t, std::uint64_t> seen{0, 0};
  std::thread writer([&] { seen = t.wait_progress(0, 0, 10s); });
  std::this_thread::sleep_for(100ms);  // the writer waits (if not yet, the checks still hold)
  t.on_delivery(1, true, "");
  t.on_delivery(2, true, "");
  std::this_thread::sleep_for(100ms);  // a wake-up per delivery would return (1,0) or (2,0)
  t.on_delivery(3, true, "");
  writer.join();
  CHECK(seen.first == 3);
  CHECK(seen.second == 7);
  CHECK(durable_calls == std::vector<std::uint64_t>{3});  // the registry learns it per batch too
}
