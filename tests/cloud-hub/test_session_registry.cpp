#include <doctest/doctest.h>

#include <limits>

#include "session_registry.hpp"

using namespace edgesync::hub;

namespace {
struct Probe : LiveStream {
  int replaced_calls = 0, drained = 0;
  void replaced() override { ++replaced_calls; }
  void drain() override { ++drained; }
  void kafka_unhealthy(const std::string&) override {}
};
}  // namespace

TEST_CASE("a second buffer under a live agent id is refused and the first keeps its stream") {
  SessionRegistry r(100);
  auto a = std::make_shared<Probe>(), b = std::make_shared<Probe>();
  CHECK(r.claim("gw", "buf-a", 5, 10, a).outcome == SessionRegistry::Outcome::kOk);
  const auto c = r.claim("gw", "buf-b", 99, 10, b);
  CHECK(c.outcome == SessionRegistry::Outcome::kDuplicateBuffer);
  CHECK(c.live_buffer == "buf-a");
  CHECK(a->replaced_calls == 0);
  r.release("gw", a.get());
  CHECK(r.claim("gw", "buf-b", 1, 10, b).outcome == SessionRegistry::Outcome::kOk);
}

TEST_CASE("the same buffer: a higher epoch replaces the live stream, an equal one is refused") {
  SessionRegistry r(100);
  auto a = std::make_shared<Probe>(), b = std::make_shared<Probe>(), c = std::make_shared<Probe>();
  CHECK(r.claim("gw", "buf", 5, 10, a).outcome == SessionRegistry::Outcome::kOk);
  CHECK(r.claim("gw", "buf", 5, 10, b).outcome == SessionRegistry::Outcome::kNotNewer);
  CHECK(r.claim("gw", "buf", 6, 10, c).outcome == SessionRegistry::Outcome::kOk);
  CHECK(a->replaced_calls == 1);
}

TEST_CASE("no epoch locks an agent out once its stream is gone") {
  SessionRegistry r(100);
  auto a = std::make_shared<Probe>(), b = std::make_shared<Probe>();
  CHECK(r.claim("gw", "buf", std::numeric_limits<std::uint64_t>::max(), 10, a).outcome ==
        SessionRegistry::Outcome::kOk);
  r.release("gw", a.get());
  CHECK(r.claim("gw", "buf", 1, 10, b).outcome == SessionRegistry::Outcome::kOk);
  // A stream that is gone without release (weak reference expired) does not block either.
  auto c = std::make_shared<Probe>();
  CHECK(r.claim("gx", "buf", 100, 10, c).outcome == SessionRegistry::Outcome::kOk);
  c.reset();
  CHECK(r.claim("gx", "buf", 1, 10, std::make_shared<Probe>()).outcome ==
        SessionRegistry::Outcome::kOk);
}

TEST_CASE("the watermark is per buffer and never reported at or beyond the hello's next seq") {
  SessionRegistry r(100);
  auto a = std::make_shared<Probe>();
  r.claim("gw", "buf-a", 1, 1, a);
  r.update_durable("gw", "buf-a", 500);
  r.release("gw", a.get());
  auto c1 = r.claim("gw", "buf-a", 2, 600, std::make_shared<Probe>());
  CHECK(c1.durable_through == 500);
  CHECK_FALSE(c1.watermark_reset);
  r.release("gw", nullptr);
  auto b = std::make_shared<Probe>();
  auto other = r.claim("gw2", "buf-b", 1, 1, b);
  CHECK(other.durable_through == 0);
  // A buffer whose seqs start over (or a crafted earlier session) is never told to skip.
  auto p = std::make_shared<Probe>();
  r.claim("gw3", "x", 1, 1, p);
  r.update_durable("gw3", "x", std::numeric_limits<std::uint64_t>::max() - 1);
  r.release("gw3", p.get());
  auto reset = r.claim("gw3", "x", 2, 10, std::make_shared<Probe>());
  CHECK(reset.watermark_reset);
  CHECK(reset.durable_through == 0);
}

TEST_CASE("the registry forgets idle agents beyond its bound, never live ones") {
  SessionRegistry r(4);
  auto live = std::make_shared<Probe>();
  r.claim("live", "b", 1, 1, live);
  r.update_durable("live", "b", 7);
  for (int i = 0; i < 20; ++i) {
    auto p = std::make_shared<Probe>();
    r.claim("idle-" + std::to_string(i), "b", 1, 1, p);
    r.release("idle-" + std::to_string(i), p.get());
  }
  CHECK(r.live().size() == 1);
  r.release("live", live.get());
  CHECK(r.claim("live", "b", 2, 100, std::make_shared<Probe>()).durable_through == 7);
}
