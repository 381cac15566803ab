#include <doctest/doctest.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <atomic>

#include "edgesync/common/status_server.hpp"
#include "process.hpp"

TEST_CASE("status server answers health, readiness and metrics") {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& fam =
      prometheus::BuildCounter().Name("edgesync_test_total").Help("test").Register(*registry);
  fam.Add({{"reason", "x"}}).Increment(3);
  std::atomic<bool> ready{false};
  edgesync::StatusServer s("127.0.0.1:0", registry, [&](std::string* why) {
    if (!ready) *why = "hub not connected";
    return ready.load();
  });
  REQUIRE(s.port() > 0);
  auto [hc, hb] = edgesync::test::http_get(s.port(), "/healthz");
  CHECK(hc == 200);
  auto [rc, rb] = edgesync::test::http_get(s.port(), "/readyz");
  CHECK(rc == 503);
  CHECK(rb.find("hub not connected") != std::string::npos);
  ready = true;
  CHECK(edgesync::test::http_get(s.port(), "/readyz").first == 200);
  auto [mc, mb] = edgesync::test::http_get(s.port(), "/metrics");
  CHECK(mc == 200);
  CHECK(mb.find("edgesync_test_total{reason=\"x\"} 3") != std::string::npos);
}
