// The largest record Kafka takes on the hub's topics, asked of the brokers (DescribeConfigs of
// each topic's effective `max.message.bytes`, which falls back to the broker's
// `message.max.bytes`). The hub announces the smallest, less header overhead, to agents.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace edgesync::hub {

// Effective `max.message.bytes` of each topic that answered (missing: Kafka down, topic not
// created yet, describe not authorized). Blocks up to `timeout`.
std::map<std::string, std::uint64_t> topics_max_message_bytes(
    rd_kafka_t* rk, const std::vector<std::string>& topics, std::chrono::milliseconds timeout);

}  // namespace edgesync::hub
