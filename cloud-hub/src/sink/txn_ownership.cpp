// TxnSink and the consumer group (cluster/ownership.hpp): what an assignment and a revocation do
// to the sink, and the group's offsets in every transaction (KIP-447).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "txn_errors.hpp"
#include "txn_sink.hpp"
#include "watermark_store.hpp"

namespace edgesync::hub {
namespace {

bool contains(const std::vector<std::int32_t>& v, std::int32_t p) {
  return std::find(v.begin(), v.end(), p) != v.end();
}

}  // namespace

bool TxnSink::send_offsets(const std::stop_token& stop) {
  if (!ownership_ || txn_keys_.empty()) return true;
  std::vector<std::int32_t> parts;
  for (const KeyState* ks : txn_keys_) {
    if (!contains(parts, ks->partition)) parts.push_back(ks->partition);
  }
  // The offsets carry no read position (the group's consumer reads nothing): they make the group
  // coordinator check this replica's generation and member id before the commit, so a replica
  // whose partitions moved away cannot commit records for their agents any more.
  rd_kafka_topic_partition_list_t* offsets =
      rd_kafka_topic_partition_list_new(static_cast<int>(parts.size()));
  for (const auto p : parts) {
    rd_kafka_topic_partition_list_add(offsets, cfg_.watermark_topic.c_str(), p)->offset = 0;
  }
  const GroupMetadata md = ownership_->group_metadata();
  bool ok = true;
  // The coordinator must be reachable a moment ago: every record of the transaction delivered
  // (the commit would wait for them anyway). Else abort without sending the offsets (see below).
  const auto t_flush = std::chrono::steady_clock::now();
  const auto flushed = rd_kafka_flush(producer_->c_ptr(), 1000);
  flush_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::steady_clock::now() - t_flush)
                  .count();
  if (flushed != RD_KAFKA_RESP_ERR_NO_ERROR || txn_failed_) {
    rd_kafka_topic_partition_list_destroy(offsets);
    abort_open(std::string("records of the transaction not delivered before its offsets (") +
                   (txn_failed_ ? txn_failure_ : rd_kafka_err2name(flushed)) + ")",
               stop);
    return false;
  }
  // Not retried: librdkafka 2.0.2 can hit an assertion (rd_kafka_enq_once_del_source_return, the
  // process aborts) when a send_offsets fails because the coordinator is unreachable and the
  // transaction then ends; seen with the broker stopped for 15 s, more often when the call is
  // repeated. A failed send_offsets aborts the transaction instead (the agents resend; nothing
  // of it is visible).
  if (TxnError e{rd_kafka_send_offsets_to_transaction(producer_->c_ptr(), offsets, md.get(), -1)}) {
    const TxnErrorClass c = classify_txn_error(e.e);
    const std::string what = describe_txn_error("send_offsets_to_transaction", e.e);
    if (metrics_) metrics_->kafka_error(std::string("txn:offsets:") + rd_kafka_error_name(e.e));
    ok = false;
    if (c == TxnErrorClass::kFenced || c == TxnErrorClass::kFatal) {
      fail_fatal(what);
    } else {
      // Retriable (timed out), or ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID: the group moved on
      // without us, and the new owner reads the watermark this transaction would have moved.
      abort_open(what, stop);
    }
  }
  rd_kafka_topic_partition_list_destroy(offsets);
  return ok;
}

void TxnSink::on_group_fatal(const std::string& why) {
  stop_from_outside(why);
}

void TxnSink::stop_from_outside(const std::string& why) {
  spdlog::critical("kafka: {}; stopping the hub (exit 3) for its orchestrator to restart it", why);
  {
    std::lock_guard lk(health_mu_);
    health_reason_ = why;
  }
  if (!fatal_.exchange(true)) {
    cv_.notify_all();  // the committer stops; what it holds is reported at shutdown
    if (metrics_) metrics_->transaction("fatal");
    if (on_fatal_) on_fatal_();
  }
  std::lock_guard lk(mu_);
  done_cv_.notify_all();
}

bool TxnSink::session_live(std::uint64_t session) const {
  std::lock_guard lk(mu_);
  return sessions_.count(session) > 0;
}

void TxnSink::on_assigned(const std::vector<std::int32_t>& partitions) {
  std::unordered_map<std::string, std::uint64_t> marks;
  try {
    marks = read_watermarks(cfg_, partitions, cfg_.transaction_timeout, metrics_);
  } catch (const std::exception& e) {
    // A replica that does not know the watermarks of its agents must not welcome them.
    stop_from_outside(e.what());
    std::lock_guard lk(mu_);
    ++assignments_;
    done_cv_.notify_all();
    return;
  }
  std::lock_guard lk(mu_);
  // Kafka's watermark is the truth for every buffer of these partitions (another replica may have
  // moved it since this one last owned them); a buffer with no record there has none.
  for (auto& [key, ks] : keys_) {
    if (contains(partitions, ks.partition)) ks.committed = 0;
  }
  for (auto& [key, seq] : marks) {
    auto [it, inserted] = keys_.try_emplace(key);
    KeyState& ks = it->second;
    if (inserted) {
      ks.key = key;
      ks.agent = key.substr(0, key.find('\n'));
      ks.partition = watermark_partition(ks.agent, watermark_partitions_);
    }
    ks.committed = seq;
  }
  for (const auto p : partitions) {
    if (p >= 0 && static_cast<std::size_t>(p) < owned_.size()) {
      owned_[static_cast<std::size_t>(p)] = true;
    } else {
      spdlog::warn(
          "kafka: watermark partition {} is beyond the {} known at start-up; its agents "
          "are refused until a restart",
          p, owned_.size());
    }
  }
  ++assignments_;
  done_cv_.notify_all();
  spdlog::info("kafka: accepting the agents of {} watermark partition(s) ({} watermark(s) read)",
               partitions.size(), marks.size());
}

void TxnSink::on_revoked(const std::vector<std::int32_t>& partitions) {
  std::vector<Pending> dropped;
  std::uint64_t ticket = 0;
  std::size_t ended = 0;
  {
    std::lock_guard lk(mu_);
    for (const auto p : partitions) {
      if (p >= 0 && static_cast<std::size_t>(p) < owned_.size())
        owned_[static_cast<std::size_t>(p)] = false;
    }
    std::vector<std::uint64_t> ending;
    for (const auto& [session, ks] : sessions_) {
      if (contains(partitions, ks->partition)) ending.push_back(session);
    }
    ended = ending.size();
    end_sessions_locked(ending, dropped);
    ticket = ++commit_wanted_;
    cv_.notify_all();
  }
  if (!dropped.empty()) {
    std::vector<DeliverySlot*> slots;
    slots.reserve(dropped.size());
    for (const auto& p : dropped) slots.push_back(p.slot);
    report(slots, DeliveryResult{false, ErrorClass::kRetriable, "_REVOKED",
                                 "this replica no longer owns the agent (rebalance); reconnect"});
  }
  // Commit (or abort) what the open transaction holds while this generation still owns it.
  std::unique_lock lk(mu_);
  const bool done = done_cv_.wait_for(lk, cfg_.transaction_timeout + std::chrono::seconds(5), [&] {
    return commit_done_ >= ticket || fatal_.load() || !committer_.joinable();
  });
  revocations_.fetch_add(1);  // the service ends the streams of the ended sessions
  spdlog::info(
      "kafka: released {} watermark partition(s): {} session(s) ended, {} queued record(s) "
      "refused, open transaction {}",
      partitions.size(), ended, dropped.size(), done ? "ended" : "NOT ended in time");
}

}  // namespace edgesync::hub
