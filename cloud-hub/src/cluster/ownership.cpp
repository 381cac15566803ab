#include "ownership.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "cluster/group_owners.hpp"
#include "edgesync/common/secrets.hpp"

namespace edgesync::hub {
namespace {

constexpr auto kRefreshAtMost = std::chrono::seconds(1);
constexpr auto kQuietAfterError = std::chrono::seconds(5);

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::vector<std::int32_t> ids(const std::vector<RdKafka::TopicPartition*>& parts) {
  std::vector<std::int32_t> out;
  out.reserve(parts.size());
  for (const auto* p : parts) out.push_back(p->partition());
  return out;
}

std::string list(const std::vector<std::int32_t>& v) {
  std::string s;
  for (const auto p : v) s += (s.empty() ? "" : ",") + std::to_string(p);
  return s.empty() ? "none" : s;
}

}  // namespace

Ownership::Ownership(const HubConfig::Kafka& cfg, std::string advertise_address,
                     std::int32_t partitions, OwnershipListener& listener)
    : cfg_(cfg),
      advertise_(std::move(advertise_address)),
      partitions_(partitions),
      listener_(listener) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  // The producer's connection settings (security, SASL, ...); producer-only ones are ignored.
  for (const auto& [k, v] : cfg_.properties) (void)conf->set(k, resolve_secret(v), err);
  const std::pair<const char*, std::string> fixed[] = {
      {"bootstrap.servers", cfg_.bootstrap_servers},
      {"group.id", cfg_.group_id},
      {"client.id", advertise_},  // DescribeConsumerGroups tells the others where we are
      // Static membership under the replica's stable transactional.id: a restarted replica takes
      // its slot back at once, and a zombie of it is fenced by the group (FENCED_INSTANCE_ID).
      {"group.instance.id", cfg_.transactional_id},
      {"partition.assignment.strategy", "roundrobin"},  // eager: see the header
      {"session.timeout.ms", std::to_string(cfg_.group_session_timeout.count())},
      {"heartbeat.interval.ms",
       std::to_string(
           std::max<long>(100, static_cast<long>(cfg_.group_session_timeout.count() / 5)))},
      {"enable.auto.commit", "false"},  // offsets are committed only inside transactions
      {"enable.auto.offset.store", "false"},
      {"isolation.level", "read_committed"},  // committed() waits for pending transactional offsets
      {"auto.offset.reset", "latest"}};
  for (const auto& [k, v] : fixed) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      throw std::runtime_error(std::string("ownership consumer: '") + k + "': " + err);
    }
  }
  if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(this), err) !=
          RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(this), err) != RdKafka::Conf::CONF_OK) {
    throw std::runtime_error("ownership consumer: " + err);
  }
  consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer_) throw std::runtime_error("ownership consumer: " + err);
  if (const auto e = consumer_->subscribe({cfg_.watermark_topic}); e != RdKafka::ERR_NO_ERROR) {
    throw std::runtime_error("ownership consumer: subscribe: " + RdKafka::err2str(e));
  }
  spdlog::info(
      "kafka: joining consumer group '{}' over '{}' as '{}' (session timeout {} ms): agents are "
      "owned by partition",
      cfg_.group_id, cfg_.watermark_topic, advertise_, cfg_.group_session_timeout.count());
  thread_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
}

Ownership::~Ownership() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
  consumer_->close();  // revokes (rebalance_cb on this thread), then leaves the group
}

GroupMetadata Ownership::group_metadata() {
  return GroupMetadata(rd_kafka_consumer_group_metadata(consumer_->c_ptr()));
}

std::string Ownership::owner_of(std::int32_t partition) {
  std::lock_guard lk(mu_);
  const auto it = owners_.find(partition);
  if (it != owners_.end()) return it->second;
  refresh_wanted_ = true;
  return {};
}

void Ownership::run(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    // Serves heartbeats and rebalances (rebalance_cb runs here); the partitions are paused.
    std::unique_ptr<RdKafka::Message> m(consumer_->consume(100));
    bool refresh = false;
    {
      std::lock_guard lk(mu_);
      const auto since = std::chrono::steady_clock::now() - last_refresh_;
      const bool quiet =
          steady_ns() - last_error_ns_.load() >= std::chrono::nanoseconds(kQuietAfterError).count();
      // Only inside a generation (assigned, not revoked): between the two the group is
      // rebalancing (or the coordinator is unreachable) and no owner is certain anyway. Owning
      // every partition, there is nobody to redirect to.
      const bool others = in_generation_ && assigned_ < static_cast<std::size_t>(partitions_);
      refresh = refresh_wanted_ && since >= kRefreshAtMost && quiet && others;
    }
    if (refresh) refresh_owners();
  }
}

void Ownership::refresh_owners() {
  std::string why;
  auto owners = describe_partition_owners(consumer_->c_ptr(), cfg_.group_id, cfg_.watermark_topic,
                                          std::chrono::milliseconds(2000), &why);
  std::lock_guard lk(mu_);
  last_refresh_ = std::chrono::steady_clock::now();
  if (owners) {
    owners_ = std::move(*owners);
    refresh_wanted_ = false;
  } else {
    owners_.clear();  // a rebalance is in progress: no owner is certain
    spdlog::debug("kafka: owners of group '{}' unknown: {}", cfg_.group_id, why);
  }
}

void Ownership::rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                             std::vector<RdKafka::TopicPartition*>& partitions) {
  rebalances_.fetch_add(1);
  const auto parts = ids(partitions);
  {
    std::lock_guard lk(mu_);
    owners_.clear();
    refresh_wanted_ = true;
  }
  if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
    assigned_ = partitions.size();
    in_generation_ = true;
    consumer->assign(partitions);
    consumer->pause(partitions);  // membership only: nothing is read through the group
    // With isolation.level=read_committed this waits for transactional offsets still pending on
    // these partitions (KIP-447's require_stable): the previous owner's last transaction is then
    // committed or aborted, and its watermarks are final before we read them.
    std::vector<RdKafka::TopicPartition*> probe;
    probe.reserve(partitions.size());
    for (const auto* p : partitions) {
      probe.push_back(RdKafka::TopicPartition::create(p->topic(), p->partition()));
    }
    if (!probe.empty()) {
      const auto e = consumer->committed(probe, static_cast<int>(cfg_.transaction_timeout.count()));
      if (e != RdKafka::ERR_NO_ERROR) {
        spdlog::warn("kafka: committed offsets of partitions {}: {}", list(parts),
                     RdKafka::err2str(e));
      }
    }
    RdKafka::TopicPartition::destroy(probe);
    spdlog::info("kafka: group '{}' assigned watermark partition(s) {} to this replica",
                 cfg_.group_id, list(parts));
    listener_.on_assigned(parts);
  } else if (err == RdKafka::ERR__REVOKE_PARTITIONS) {
    spdlog::info("kafka: group '{}' revokes watermark partition(s) {} (rebalance)", cfg_.group_id,
                 list(parts));
    listener_.on_revoked(parts);
    consumer->unassign();
    assigned_ = 0;
    in_generation_ = false;
  } else {
    spdlog::warn("kafka: group '{}' rebalance error: {}", cfg_.group_id, RdKafka::err2str(err));
    listener_.on_revoked(parts);
    consumer->unassign();
    assigned_ = 0;
    in_generation_ = false;
  }
}

void Ownership::event_cb(RdKafka::Event& e) {
  if (e.type() == RdKafka::Event::EVENT_ERROR && e.fatal()) {
    // E.g. FENCED_INSTANCE_ID: a newer incarnation of this replica joined under our instance id.
    listener_.on_group_fatal("the group consumer failed: " + e.str() + " (" +
                             RdKafka::err2str(e.err()) + ")");
  } else if (e.type() == RdKafka::Event::EVENT_ERROR) {
    last_error_ns_.store(steady_ns());
    spdlog::warn("kafka: ownership consumer: {} ({})", e.str(), RdKafka::err2str(e.err()));
  } else if (e.type() == RdKafka::Event::EVENT_LOG &&
             e.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) {
    spdlog::warn("kafka: ownership consumer: {} {}", e.fac(), e.str());
  }
}

}  // namespace edgesync::hub
