#include <doctest/doctest.h>

#include "edgesync/common/mqtt_topic.hpp"

using edgesync::topic_level;
using edgesync::topic_matches;
using edgesync::valid_topic_filter;

TEST_CASE("topic filter matching follows MQTT 3.1.1") {
  CHECK(topic_matches("sensors/#", "sensors/dev-1/temp"));
  CHECK(topic_matches("sensors/#", "sensors"));
  CHECK(topic_matches("sensors/+/temp", "sensors/dev-1/temp"));
  CHECK_FALSE(topic_matches("sensors/+/temp", "sensors/dev-1/hum"));
  CHECK_FALSE(topic_matches("sensors/+", "sensors/dev-1/temp"));
  CHECK(topic_matches("#", "a/b/c"));
  CHECK_FALSE(topic_matches("#", "$SYS/broker"));
  CHECK(topic_matches("a/b", "a/b"));
  CHECK_FALSE(topic_matches("a/b", "a/b/c"));
  CHECK_FALSE(topic_matches("a/b/c", "a/b"));
  CHECK(topic_matches("+/+", "/x"));
}

TEST_CASE("topic levels") {
  CHECK(topic_level("sensors/dev-7/temp", 1) == "dev-7");
  CHECK(topic_level("sensors/dev-7/temp", 0) == "sensors");
  CHECK(topic_level("sensors", 1).empty());
}

TEST_CASE("filter validity") {
  CHECK(valid_topic_filter("a/+/#"));
  CHECK_FALSE(valid_topic_filter("a/#/b"));
  CHECK_FALSE(valid_topic_filter("a/b+"));
  CHECK_FALSE(valid_topic_filter(""));
}
