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
  CHECK(r.claim("gw", "", "buf-a", 5, 10, a).outcome == SessionRegistry::Outcome::kOk);
  const auto c = r.claim("gw", "", "buf-b", 99, 10, b);
  CHECK(c.outcome == SessionRegistry::Outcome::kDuplicateBuffer);
  CHECK(c.live_buffer == "buf-a");
  CHECK(a->replaced_calls == 0);
  r.release("gw", "", a.get());
  CHECK(r.claim("gw", "", "buf-b", 1, 10, b).outcome == SessionRegistry::Outcome::kOk);
}

TEST_CASE("the same buffer: a higher epoch replaces the live stream, an equal one is refused") {
  SessionRegistry r(100);
  auto a = std::make_shared<Probe>(), b = std::make_shared<Probe>(), c = std::make_shared<Probe>();
  CHECK(r.claim("gw", "", "buf", 5, 10, a).outcome == SessionRegistry::Outcome::kOk);
  CHECK(r.claim("gw", "", "buf", 5, 10, b).outcome == SessionRegistry::Outcome::kNotNewer);
  CHECK(r.claim("gw", "", "buf", 6, 10, c).outcome == SessionRegistry::Outcome::kOk);
  CHECK(a->replaced_calls == 1);
}

TEST_CASE("no epoch locks an agent out once its stream is gone") {
  SessionRegistry r(100);
  auto a = std::make_shared<Probe>(), b = std::make_shared<Probe>();
  CHECK(r.claim("gw", "", "buf", std::numeric_limits<std::uint64_t>::max(), 10, a).outcome ==
        SessionRegistry::Outcome::kOk);
  r.release("gw", "", a.get());
  CHECK(r.claim("gw", "", "buf", 1, 10, b).outcome == SessionRegistry::Outcome::kOk);
  // A stream that is gone without release (weak reference expired) does not block either.
  auto c = std::make_shared<Probe>();
  CHECK(r.claim("gx", "", "buf", 100, 10, c).outcome == SessionRegistry::Outcome::kOk);
  c.reset();
  CHECK(r.claim("gx", "", "buf", 1, 10, std::make_shared<Probe>()).outcome ==
        SessionRegistry::Outcome::kOk);
}

TEST_CASE("the watermark is per buffer and never reported at or beyond the hello's next seq") {
  SessionRegistry r(100);
  auto a = std::make_shared<Probe>();
  r.claim("gw", "", "buf-a", 1, 1, a);
  r.update_durable("gw", "buf-a", 500);
  r.release("gw", "", a.get());
  auto c1 = r.claim("gw", "", "buf-a", 2, 600, std::make_shared<Probe>());
  CHECK(c1.durable_through == 500);
  CHECK_FALSE(c1.watermark_reset);
  r.release("gw", "", nullptr);
  auto b = std::make_shared<Probe>();
  auto other = r.claim("gw2", "", "buf-b", 1, 1, b);
  CHECK(other.durable_through == 0);
  // A buffer whose seqs start over (or a crafted earlier session) is never told to skip.
  auto p = std::make_shared<Probe>();
  r.claim("gw3", "", "x", 1, 1, p);
  r.update_durable("gw3", "x", std::numeric_limits<std::uint64_t>::max() - 1);
  r.release("gw3", "", p.get());
  auto reset = r.claim("gw3", "", "x", 2, 10, std::make_shared<Probe>());
  CHECK(reset.watermark_reset);
  CHECK(reset.durable_through == 0);
}

TEST_CASE("the registry forgets idle agents beyond its bound, never live ones") {
  SessionRegistry r(4);
  auto live = std::make_shared<Probe>();
  r.claim("live", "", "b", 1, 1, live);
  r.update_durable("live", "b", 7);
  for (int i = 0; i < 20; ++i) {
    auto p = std::make_shared<Probe>();
    r.claim("idle-" + std::to_string(i), "", "b", 1, 1, p);
    r.release("idle-" + std::to_string(i), "", p.get());
  }
  CHECK(r.live().size() == 1);
  r.release("live", "", live.get());
  CHECK(r.claim("live", "", "b", 2, 100, std::make_shared<Probe>()).durable_through == 7);
}

TEST_CASE(
    "the lanes of one agent are live at the same time and each lane keeps the one-lane rules") {
  SessionRegistry r(100);
  auto tel = std::make_shared<Probe>(), al = std::make_shared<Probe>();
  CHECK(r.claim("gw", "", "buf-t", 5, 10, tel).outcome == SessionRegistry::Outcome::kOk);
  CHECK(r.claim("gw", "alerts", "buf-a", 1, 10, al).outcome == SessionRegistry::Outcome::kOk);
  CHECK(r.live().size() == 2);
  // A second buffer on a live lane: refused, naming the lane's buffer.
  auto c = r.claim("gw", "alerts", "buf-b", 99, 10, std::make_shared<Probe>());
  CHECK(c.outcome == SessionRegistry::Outcome::kDuplicateBuffer);
  CHECK(c.live_buffer == "buf-a");
  CHECK(c.live_lane == "alerts");
  CHECK(SessionRegistry::refusal_message(c, "gw", "alerts", "buf-b", 99).find("lane 'alerts'") !=
        std::string::npos);
  // Equal epoch on the lane: refused; higher: replaces that lane's stream only.
  CHECK(r.claim("gw", "alerts", "buf-a", 1, 10, std::make_shared<Probe>()).outcome ==
        SessionRegistry::Outcome::kNotNewer);
  auto al2 = std::make_shared<Probe>();
  CHECK(r.claim("gw", "alerts", "buf-a", 2, 10, al2).outcome == SessionRegistry::Outcome::kOk);
  CHECK(al->replaced_calls == 1);
  CHECK(tel->replaced_calls == 0);
  // release() of the replaced stream does not free the lane its successor holds.
  r.release("gw", "alerts", al.get());
  CHECK(r.claim("gw", "alerts", "buf-b", 1, 10, std::make_shared<Probe>()).outcome ==
        SessionRegistry::Outcome::kDuplicateBuffer);
  // Released per lane: the default lane's stream is untouched.
  r.release("gw", "alerts", al2.get());
  CHECK(r.claim("gw", "alerts", "buf-b", 1, 10, std::make_shared<Probe>()).outcome ==
        SessionRegistry::Outcome::kOk);
  CHECK(r.claim("gw", "", "buf-x", 99, 10, std::make_shared<Probe>()).outcome ==
        SessionRegistry::Outcome::kDuplicateBuffer);
}

TEST_CASE("one buffer has one live stream across lanes: it moves lanes only with a higher epoch") {
  SessionRegistry r(100);
  auto a = std::make_shared<Probe>();
  CHECK(r.claim("gw", "", "buf", 5, 10, a).outcome == SessionRegistry::Outcome::kOk);
  const auto c = r.claim("gw", "alerts", "buf", 5, 10, std::make_shared<Probe>());
  CHECK(c.outcome == SessionRegistry::Outcome::kNotNewer);
  CHECK(c.live_lane.empty());
  auto b = std::make_shared<Probe>();
  CHECK(r.claim("gw", "alerts", "buf", 6, 10, b).outcome == SessionRegistry::Outcome::kOk);
  CHECK(a->replaced_calls == 1);
  r.release("gw", "", a.get());  // the replaced stream ends: nothing of its successor is freed
  CHECK(r.live().size() == 1);
  // The default lane is free for another buffer.
  CHECK(r.claim("gw", "", "buf-2", 1, 10, std::make_shared<Probe>()).outcome ==
        SessionRegistry::Outcome::kOk);
}

TEST_CASE("watermarks stay per buffer: two lanes of one agent never share one") {
  SessionRegistry r(100);
  auto t = std::make_shared<Probe>(), a = std::make_shared<Probe>();
  r.claim("gw", "", "buf-t", 1, 1, t);
  r.claim("gw", "alerts", "buf-a", 1, 1, a);
  r.update_durable("gw", "buf-t", 500);
  r.update_durable("gw", "buf-a", 7);
  r.release("gw", "", t.get());
  r.release("gw", "alerts", a.get());
  CHECK(r.claim("gw", "alerts", "buf-a", 2, 8, std::make_shared<Probe>()).durable_through == 7);
  CHECK(r.claim("gw", "", "buf-t", 2, 501, std::make_shared<Probe>()).durable_through == 500);
}
