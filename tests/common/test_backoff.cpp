#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "edgesync/common/backoff.hpp"

using namespace std::chrono_literals;

TEST_CASE("full jitter backoff stays within a doubling capped ceiling") {
  edgesync::Backoff b(100ms, 5000ms, 42);
  std::chrono::milliseconds expected_ceiling = 100ms;
  for (int i = 0; i < 20; ++i) {
    CHECK(b.ceiling() == expected_ceiling);
    auto w = b.next();
    CHECK(w >= 0ms);
    CHECK(w <= expected_ceiling);
    expected_ceiling = std::min(expected_ceiling * 2, std::chrono::milliseconds(5000));
  }
  CHECK(b.ceiling() == 5000ms);  // capped, not grown past the cap
  b.reset();
  CHECK(b.ceiling() == 100ms);
  CHECK(b.next() <= 100ms);
}

// Full jitter means uniform in [0, ceiling]: a backoff that always waited 0, always the ceiling,
// or half of it, or drew from a narrower range, fails here (seeds fixed: deterministic).
TEST_CASE("waits at the cap are spread over the whole range from 0 to the ceiling") {
  constexpr int kDraws = 2000;
  std::int64_t sum = 0, lo = 5000, hi = 0;
  int below_tenth = 0, above_nine_tenths = 0;
  for (std::uint64_t seed = 0; seed < kDraws; ++seed) {
    edgesync::Backoff b(5000ms, 5000ms, seed);
    const auto w = b.next().count();
    sum += w;
    lo = std::min(lo, w);
    hi = std::max(hi, w);
    below_tenth += w < 500 ? 1 : 0;
    above_nine_tenths += w > 4500 ? 1 : 0;
  }
  const double mean = static_cast<double>(sum) / kDraws;
  CHECK(mean > 2250);  // 2500 expected; 2000 draws put the mean within ~±100
  CHECK(mean < 2750);
  CHECK(lo < 50);
  CHECK(hi > 4950);
  CHECK(below_tenth > kDraws / 20);  // ~10 % each expected
  CHECK(above_nine_tenths > kDraws / 20);
}

TEST_CASE("the same seed gives the same waits and another seed other waits") {
  edgesync::Backoff a(1000ms, 30000ms, 7), b(1000ms, 30000ms, 7), c(1000ms, 30000ms, 8);
  bool differs = false;
  for (int i = 0; i < 8; ++i) {
    const auto wa = a.next();
    CHECK(wa == b.next());
    differs = differs || wa != c.next();
  }
  CHECK(differs);
}

TEST_CASE("jitter spreads a fleet so waits differ between agents") {
  std::set<long> firsts;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    edgesync::Backoff b(1000ms, 30000ms, seed);
    for (int i = 0; i < 5; ++i) b.next();
    firsts.insert(static_cast<long>(b.next().count()));
  }
  CHECK(firsts.size() > 40);
}
