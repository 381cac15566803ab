#include <doctest/doctest.h>

#include "ack_tracker.hpp"

using edgesync::hub::AckTracker;

TEST_CASE("the ack position moves only over fully resolved batches, in order") {
  AckTracker t(0);
  const auto b1 = t.add_batch(11, 3, 3);  // seqs 1..3
  const auto b2 = t.add_batch(12, 6, 3);  // seqs 4..6
  CHECK(t.unresolved() == 6);
  CHECK_FALSE(t.resolve(b2));
  CHECK_FALSE(t.resolve(b2));
  CHECK_FALSE(t.resolve(b2));  // batch 2 done, batch 1 not: nothing acked
  CHECK(t.durable_through() == 0);
  CHECK_FALSE(t.resolve(b1));
  CHECK_FALSE(t.resolve(b1));
  CHECK(t.resolve(b1));  // both now
  CHECK(t.durable_through() == 6);
  CHECK(t.acked_batch() == 12);
  CHECK(t.unresolved() == 0);
}

TEST_CASE("a batch of only already-durable records is acked as soon as those before it are") {
  AckTracker t(100);
  const auto b1 = t.add_batch(1, 105, 1);
  t.add_batch(2, 110, 0);
  CHECK(t.durable_through() == 100);
  CHECK(t.resolve(b1));
  CHECK(t.durable_through() == 110);
  CHECK(t.acked_batch() == 2);
  AckTracker u(50);
  u.add_batch(7, 40, 0);  // resent, all below the watermark
  CHECK(u.durable_through() == 50);
  CHECK(u.acked_batch() == 7);
}

TEST_CASE("resolving more records than a batch has, or an unknown batch, changes nothing") {
  AckTracker t(0);
  const auto b = t.add_batch(1, 2, 1);
  CHECK(t.resolve(b));
  CHECK_FALSE(t.resolve(b));
  CHECK_FALSE(t.resolve(b + 5));
  CHECK(t.durable_through() == 2);
}
