// kafka.delivery: exactly_once. One transactional producer per replica (transactional.id stable
// per replica, so a restarted replica fences its previous incarnation). produce() only queues;
// the sink's committer thread writes the queued records into the open transaction and, every
// kafka.commit_interval_ms (counted from the previous commit's start, and at least half of it
// after the previous commit returned), adds one watermark record per (agent, buffer) written (the
// highest seq, to the compacted kafka.watermark_topic) and commits. Only a committed record is
// reported OK, so the stream acks after the commit. An aborted transaction reports its records
// retriable (the agents resend; the watermark did not move, so nothing becomes visible twice) and
// ends the sessions it carried. A fatal or fenced producer stops the sink: records are refused,
// /readyz fails and `on_fatal` runs (the hub shuts down for its orchestrator to restart it).
//
// Ownership (several replicas): the replica owns the agents whose watermark partition the consumer
// group assigned it (cluster/ownership.hpp). It reads those partitions' watermarks before it
// accepts their agents, refuses (redirects) the others, commits with the group's metadata
// (send_offsets_to_transaction, KIP-447: a replica whose partitions moved is fenced by the
// broker), and on a revocation ends the sessions of those agents and commits or aborts its open
// transaction before the partitions move.
//
// Duplicates across reconnects: a new session of a buffer starts from the watermark Kafka holds
// committed; records it resends that an uncommitted transaction already carries (the previous
// session's) are not written again but resolved with that transaction.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cluster/ownership.hpp"
#include "hub_config.hpp"
#include "hub_metrics.hpp"
#include "sink.hpp"

namespace edgesync::hub {

class TxnSink final : public Sink,
                      private RdKafka::DeliveryReportCb,
                      private RdKafka::EventCb,
                      private OwnershipListener {
 public:
  // Blocks until the producer is initialised (init_transactions: an earlier incarnation of this
  // transactional.id is fenced and its open transaction completed), the watermark topic exists
  // (created when missing) and the group's first assignment was read back (waited for at most
  // kafka.group_session_timeout_ms + kafka.transaction_timeout_ms; until then hellos are refused
  // as rebalancing). Throws std::runtime_error when Kafka does not answer within
  // kafka.transaction_timeout_ms. `advertise_address` is where agents reach this replica.
  // `metrics` may be null; `on_fatal` runs once when the producer becomes unusable.
  TxnSink(const HubConfig::Kafka& cfg, std::string advertise_address, HubMetrics* metrics,
          std::function<void()> on_fatal);
  ~TxnSink() override;
  TxnSink(const TxnSink&) = delete;
  TxnSink& operator=(const TxnSink&) = delete;

  ProduceStatus produce(const SinkRecord& r, DeliverySlot* slot, DeliveryResult* result) override;
  ProduceStatus produce_dead_letter(const SinkRecord& r, std::string_view error, DeliverySlot* slot,
                                    DeliveryResult* result) override;
  bool flush(std::chrono::milliseconds timeout) override;
  std::size_t in_flight() const override { return in_flight_.load(); }
  bool healthy(std::string* reason) const override;
  std::uint64_t max_record_bytes() const override { return max_record_bytes_; }
  std::optional<SessionStart> open_session(std::string_view agent, std::string_view buffer,
                                           std::uint64_t next_seq) override;

  std::uint64_t ownership_changes() const override { return revocations_.load(); }
  bool session_live(std::uint64_t session) const override;

  // The producer hit a fatal (or fenced) error; the sink refuses everything from then on.
  bool failed() const { return fatal_.load(); }

 private:
  struct KeyState {
    std::string agent, key;
    std::int32_t partition = 0;
    std::atomic<std::uint64_t> committed{0};  // written by the committer and by a reset
    std::atomic<std::uint64_t> reset_gen{0};  // bumped when a hello reset the seq space
    std::uint64_t live_session = 0;           // under mu_
    // Committer thread only:
    std::uint64_t txn_max = 0;  // highest seq of this buffer written into the open transaction
    std::uint64_t seen_reset_gen = 0;
    bool in_txn = false;
  };
  struct Pending {
    SinkRecord rec;
    DeliverySlot* slot = nullptr;
    std::size_t topic = 0;  // routes, then the default topic, then the dead-letter topic
    std::string error;      // dead letters: the reason (a header)
    KeyState* key = nullptr;
  };
  struct Entry {
    DeliverySlot* slot;
    std::uint64_t session;
  };

  ProduceStatus enqueue(const SinkRecord& r, DeliverySlot* slot, std::size_t topic,
                        std::string error, DeliveryResult* result);
  RdKafka::Topic* topic_at(std::size_t i) const;
  void run(const std::stop_token& stop);
  void write(std::vector<Pending>& batch);
  void commit(const std::stop_token& stop);
  // The open transaction is lost: abort it (retrying while the abort itself fails retriably),
  // then report its records retriable and end the sessions it carried.
  void abort_open(const std::string& why, const std::stop_token& stop);
  void fail_fatal(const std::string& why);
  // Ends these sessions (under mu_): their queued records are moved to `out` to be failed.
  void end_sessions_locked(const std::vector<std::uint64_t>& sessions, std::vector<Pending>& out);
  void report(const std::vector<DeliverySlot*>& slots, const DeliveryResult& result);
  void health_loop(const std::stop_token& stop);
  // Sends the group's offsets for the partitions this transaction wrote (KIP-447); false when the
  // transaction was aborted or the producer failed instead.
  bool send_offsets(const std::stop_token& stop);
  void on_assigned(const std::vector<std::int32_t>& partitions) override;
  void on_revoked(const std::vector<std::int32_t>& partitions) override;
  void on_group_fatal(const std::string& why) override;
  // From the ownership thread: marks the sink failed (the committer stops) and stops the hub.
  void stop_from_outside(const std::string& why);
  void dr_cb(RdKafka::Message& message) override;
  void event_cb(RdKafka::Event& event) override;

  HubConfig::Kafka cfg_;
  HubMetrics* metrics_;
  std::function<void()> on_fatal_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::vector<std::unique_ptr<RdKafka::Topic>> topics_;  // routes, default, dead letter (or null)
  std::unique_ptr<RdKafka::Topic> watermark_topic_;
  std::int32_t watermark_partitions_ = 1;
  std::uint64_t max_record_bytes_ = 0;

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::vector<Pending> pending_;
  std::unordered_map<std::string, KeyState> keys_;
  std::unordered_map<std::uint64_t, KeyState*> sessions_;  // live sessions
  std::uint64_t next_session_ = 1;
  std::vector<bool> owned_;          // per watermark partition: assigned to this replica and read
  std::uint64_t commit_wanted_ = 0;  // a revocation asks the committer to end the transaction now
  std::uint64_t commit_done_ = 0;
  std::uint64_t assignments_ = 0;
  std::condition_variable_any done_cv_;

  // Committer thread only.
  bool txn_open_ = false;
  std::vector<Entry> txn_entries_;
  std::vector<KeyState*> txn_keys_;
  bool txn_failed_ = false;  // a delivery report failed: the commit will be abortable
  std::string txn_failure_;
  std::int64_t flush_ns_ = 0;  // the last commit's flush (send_offsets), for the debug log

  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::uint64_t> revocations_{0};
  std::atomic<bool> fatal_{false};
  std::atomic<std::int64_t> last_ok_ns_{0};
  mutable std::mutex health_mu_;
  std::string health_reason_ = "no Kafka metadata yet";
  std::jthread committer_;
  std::jthread health_;
  std::unique_ptr<Ownership> ownership_;  // last: its revocation at shutdown needs the committer
};

}  // namespace edgesync::hub
