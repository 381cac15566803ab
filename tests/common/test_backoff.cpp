#include <doctest/doctest.h>

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
  b.reset();
  CHECK(b.ceiling() == 100ms);
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
