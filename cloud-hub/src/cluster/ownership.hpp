// One owner per agent, by Kafka's group protocol (exactly_once, issue #12 phase 2). Every replica
// joins the consumer group `kafka.group_id` subscribed to the watermark topic; an agent belongs to
// the replica assigned the watermark partition of its id (murmur2, the partitioner of its
// watermark records). The consumer reads nothing (its partitions are paused): it exists for the
// membership, and its group metadata goes into every transaction (send_offsets_to_transaction,
// KIP-447), so the group coordinator refuses the commit of a replica whose generation is gone.
//
// Eager assignor (roundrobin): a rebalance revokes every partition of every replica first, so
// each replica commits or aborts its open transaction while its generation still owns everything
// it wrote, then nothing is owned anywhere until the new assignment is read back. Cooperative
// rebalancing would keep unmoved agents streaming, but a transaction spanning moved and unmoved
// partitions and librdkafka 2.0's incremental API would need more care than this first version.
//
// Static membership (group.instance.id = the replica's transactional.id, stable per StatefulSet
// pod): a replica restarted after kill -9 rejoins under its instance id and gets its partitions
// back without waiting for the session timeout, and the earlier incarnation is fenced by the group
// coordinator (FENCED_INSTANCE_ID). The cost: a replica that is scaled away does not leave the
// group, so its agents wait kafka.group_session_timeout_ms before they move.
//
// Owners' addresses: the consumer's client.id is `hub.advertise_address`; DescribeConsumerGroups
// maps each partition to its member's client id (group_owners.hpp). Owners change only through a
// rebalance, which every member takes part in, so the map is dropped at each rebalance and
// described again after it while this replica does not own every partition (at most once a
// second while the group is not Stable yet), and on demand (a hello for an agent whose owner is
// unknown); only between an assignment and the next revocation. Never within 5 s of an error:
// librdkafka 2.0.2 can abort the process when a connection drops under a coordinator-targeted Admin
// request (librdkafka issue #4605).
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "hub_config.hpp"

namespace edgesync::hub {

class OwnershipListener {
 public:
  virtual ~OwnershipListener() = default;
  // On the ownership thread, after the partitions were assigned to this replica and before their
  // agents are accepted: returns once their watermarks are known.
  virtual void on_assigned(const std::vector<std::int32_t>& partitions) = 0;
  // Before the partitions go elsewhere: stop accepting their agents and end the open transaction.
  virtual void on_revoked(const std::vector<std::int32_t>& partitions) = 0;
  // The group consumer cannot go on (fenced by a newer incarnation of this replica): stop.
  virtual void on_group_fatal(const std::string& why) = 0;
};

struct GroupMetadataDeleter {
  void operator()(rd_kafka_consumer_group_metadata_t* m) const {
    rd_kafka_consumer_group_metadata_destroy(m);
  }
};
using GroupMetadata = std::unique_ptr<rd_kafka_consumer_group_metadata_t, GroupMetadataDeleter>;

class Ownership final : private RdKafka::RebalanceCb, private RdKafka::EventCb {
 public:
  // Joins the group (asynchronously: the listener hears of the first assignment on the ownership
  // thread). Throws std::runtime_error when the consumer cannot be created.
  // `partitions`: the watermark topic's partition count.
  Ownership(const HubConfig::Kafka& cfg, std::string advertise_address, std::int32_t partitions,
            OwnershipListener& listener);
  ~Ownership() override;  // leaves the group (the listener hears of the revocation first)
  Ownership(const Ownership&) = delete;
  Ownership& operator=(const Ownership&) = delete;

  // The consumer's current group metadata (generation, member id) for send_offsets_to_transaction.
  GroupMetadata group_metadata();
  // The advertised address of the replica the group assigned `partition` to, as last described;
  // "" when unknown (a rebalance is in progress). Asks for a fresh description when unknown.
  std::string owner_of(std::int32_t partition);
  // Rebalances this replica went through (assignments and revocations).
  std::uint64_t rebalances() const { return rebalances_.load(); }
  const std::string& advertise_address() const { return advertise_; }

 private:
  void run(const std::stop_token& stop);
  void refresh_owners();
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override;
  void event_cb(RdKafka::Event& e) override;

  HubConfig::Kafka cfg_;
  std::string advertise_;
  std::int32_t partitions_;
  OwnershipListener& listener_;
  std::atomic<std::int64_t> last_error_ns_{0};  // steady clock, the consumer's last error event
  std::size_t assigned_ = 0;                    // the ownership thread only
  bool in_generation_ = false;                  // assigned and not revoked since (same thread)
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::atomic<std::uint64_t> rebalances_{0};

  mutable std::mutex mu_;
  std::unordered_map<std::int32_t, std::string> owners_;  // as last described
  bool refresh_wanted_ = true;
  std::chrono::steady_clock::time_point last_refresh_{};
  std::jthread thread_;
};

}  // namespace edgesync::hub
