// Who owns which watermark partition, as Kafka's group coordinator sees it: DescribeConsumerGroups
// (librdkafka >= 2.0 Admin API) over the replicas' consumer group. Each replica's consumer has
// `client.id` = its `hub.advertise_address`, so a member's client id is where agents reach it.
// Nothing of this is stored by the hub outside Kafka: the answer is the group's own membership.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace edgesync::hub {

// partition of `topic` -> the client id (advertised address) of the member it is assigned to.
// nullopt when the group is not Stable (a rebalance is in progress: no owner is certain) or Kafka
// did not answer within `timeout`; `why` then says which.
std::optional<std::unordered_map<std::int32_t, std::string>> describe_partition_owners(
    rd_kafka_t* rk, const std::string& group, const std::string& topic,
    std::chrono::milliseconds timeout, std::string* why);

}  // namespace edgesync::hub
