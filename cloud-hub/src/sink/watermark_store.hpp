// The durable watermark topic (exactly-once delivery, KIP-618's pattern): one compacted record per
// (agent, buffer), key "<agent id>\n<buffer id>" (ids never hold control characters, the hello's
// contract), value the highest seq of that buffer written to Kafka, as decimal text. It is written
// in the same transaction as the records, so a read_committed reader sees a watermark exactly when
// the records up to it are visible. Every watermark of an agent goes to one partition, chosen by
// murmur2 of the agent id (Kafka's own partitioner for that key), so one partition = one set of
// agents (the unit of ownership once replicas share agents through a consumer group).
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hub_config.hpp"

namespace edgesync::hub {

class HubMetrics;

std::string watermark_key(std::string_view agent, std::string_view buffer);
// Decimal seq, nothing else (no sign, no spaces, at most 20 digits, fits 64 bits); else nullopt.
std::optional<std::uint64_t> parse_watermark_value(std::string_view v);
// Kafka's murmur2 partitioner (the Java client's for a keyed record) over the agent id.
std::int32_t watermark_partition(std::string_view agent, std::int32_t partitions);

// Makes sure `cfg.watermark_topic` exists (created compacted with `cfg.watermark_partitions`
// partitions when missing) and returns its partition count. Throws std::runtime_error naming the
// topic when Kafka does not answer within `timeout` or refuses the creation.
std::int32_t ensure_watermark_topic(RdKafka::Producer& producer, const HubConfig::Kafka& cfg,
                                    std::chrono::milliseconds timeout);

// Reads every committed record of these partitions of the watermark topic from the beginning to
// their end (isolation.level=read_committed) and returns the last value per key. Records whose key
// or value is malformed are skipped, logged with partition and offset, and counted
// (edgesync_hub_kafka_errors_total{type="watermark:malformed"}). Throws std::runtime_error when
// the end of every partition is not reached within `timeout`: a replica that does not know the
// durable watermark must not welcome agents.
std::unordered_map<std::string, std::uint64_t> read_watermarks(
    const HubConfig::Kafka& cfg, const std::vector<std::int32_t>& partitions,
    std::chrono::milliseconds timeout, HubMetrics* metrics);

}  // namespace edgesync::hub
