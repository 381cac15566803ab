#include "txn_sink.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>
#include <unordered_set>

#include "kafka_sink.hpp"
#include "txn_errors.hpp"
#include "watermark_store.hpp"

#include "edgesync/common/text.hpp"

namespace edgesync::hub {
namespace {

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

DeliveryResult retriable(std::string_view name, std::string_view text) {
  return DeliveryResult{false, ErrorClass::kRetriable, name, text};
}

}  // namespace

TxnSink::TxnSink(const HubConfig::Kafka& cfg, std::string advertise_address, HubMetrics* metrics,
                 std::function<void()> on_fatal)
    : cfg_(cfg), metrics_(metrics), on_fatal_(std::move(on_fatal)) {
  std::unique_ptr<RdKafka::Conf> conf = producer_conf(cfg_);  // transactional (cfg.exactly_once)
  std::uint64_t producer_max = 0;
  producer_ = make_producer(*conf, this, this, &producer_max);
  max_record_bytes_ = producer_max > kRecordOverheadBytes ? producer_max - kRecordOverheadBytes : 0;
  for (const auto& r : cfg_.routes)
    topics_.push_back(make_topic(*producer_, r.topic, r.compression));
  topics_.push_back(make_topic(*producer_, cfg_.default_topic, ""));
  topics_.push_back(cfg_.dead_letter_topic.empty()
                        ? nullptr
                        : make_topic(*producer_, cfg_.dead_letter_topic, ""));
  watermark_topic_ = make_topic(*producer_, cfg_.watermark_topic, "");

  const int timeout_ms = static_cast<int>(cfg_.transaction_timeout.count());
  spdlog::info("kafka: initialising transactions as '{}' (fences an earlier incarnation)",
               cfg_.transactional_id);
  if (TxnError e{rd_kafka_init_transactions(producer_->c_ptr(), timeout_ms)}) {
    throw std::runtime_error("kafka: " + describe_txn_error("init_transactions", e.e));
  }
  watermark_partitions_ =
      ensure_watermark_topic(*producer_, cfg_, std::chrono::milliseconds(timeout_ms));
  owned_.assign(static_cast<std::size_t>(watermark_partitions_), false);
  last_ok_ns_ = steady_ns();
  committer_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
  health_ = std::jthread([this](const std::stop_token& stop) { health_loop(stop); });
  // Agents are owned by partition through the group; the watermarks of a partition are read when
  // it is assigned (on_assigned). The first assignment takes a session timeout when a dead
  // incarnation of this replica is still a member.
  ownership_ =
      std::make_unique<Ownership>(cfg_, std::move(advertise_address), watermark_partitions_,
                                  static_cast<OwnershipListener&>(*this));
  {
    std::unique_lock lk(mu_);
    done_cv_.wait_for(lk, cfg_.group_session_timeout + cfg_.transaction_timeout,
                      [&] { return assignments_ > 0 || fatal_.load(); });
    if (assignments_ == 0) {
      spdlog::warn("kafka: no assignment from group '{}' yet; agents are refused as rebalancing",
                   cfg_.group_id);
    }
  }
  std::lock_guard lk(mu_);
  spdlog::info(
      "kafka: exactly-once producer '{}' for {} ready: commit every {} ms, watermark topic '{}' "
      "({} partitions, {} watermark(s) known), default topic '{}', {} route(s)",
      cfg_.transactional_id, cfg_.bootstrap_servers, cfg_.commit_interval.count(),
      cfg_.watermark_topic, watermark_partitions_, keys_.size(), cfg_.default_topic,
      cfg_.routes.size());
}

TxnSink::~TxnSink() {
  ownership_.reset();  // leaves the group: the revocation commits what is open
  health_.request_stop();
  if (health_.joinable()) health_.join();
  committer_.request_stop();
  cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  std::vector<DeliverySlot*> failed;
  if (txn_open_ && !fatal_.load()) {
    // Whatever is still open was never acked; abort it so read_committed readers move on now
    // rather than after transaction.timeout.ms (the agents resend it).
    TxnError e{rd_kafka_abort_transaction(producer_->c_ptr(), 5000)};
    if (e) spdlog::warn("kafka: at shutdown: {}", describe_txn_error("abort_transaction", e.e));
  }
  rd_kafka_purge(producer_->c_ptr(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  producer_->poll(0);
  for (const auto& e : txn_entries_) failed.push_back(e.slot);
  {
    std::lock_guard lk(mu_);
    for (const auto& p : pending_) failed.push_back(p.slot);
    pending_.clear();
  }
  if (!failed.empty()) {
    spdlog::warn("kafka: {} record(s) not committed at shutdown; not acked, the agents resend them",
                 failed.size());
    report(failed, retriable("_DESTROY", "hub shutting down before the commit"));
  }
  topics_.clear();
  watermark_topic_.reset();
}

RdKafka::Topic* TxnSink::topic_at(std::size_t i) const {
  return i < topics_.size() ? topics_[i].get() : nullptr;
}

ProduceStatus TxnSink::produce(const SinkRecord& r, DeliverySlot* slot, DeliveryResult* result) {
  slot->dead_letter = false;
  // The producer's limit, checked before the record joins a transaction: a record Kafka refuses
  // inside a transaction would abort every other record of it.
  if (max_record_bytes_ != 0 &&
      r.payload.size() + r.mqtt_topic.size() + r.device_id.size() > max_record_bytes_) {
    *result = DeliveryResult{false, ErrorClass::kPermanent, "MSG_SIZE_TOO_LARGE",
                             "record larger than the producer's message.max.bytes less headers"};
    return ProduceStatus::kFailed;
  }
  return enqueue(r, slot, route_index(cfg_.routes, r.mqtt_topic), {}, result);
}

ProduceStatus TxnSink::produce_dead_letter(const SinkRecord& r, std::string_view error,
                                           DeliverySlot* slot, DeliveryResult* result) {
  if (cfg_.dead_letter_topic.empty()) {
    *result = DeliveryResult{false, ErrorClass::kPermanent, "NO_DEAD_LETTER_TOPIC",
                             "kafka.dead_letter_topic is not set"};
    return ProduceStatus::kFailed;
  }
  slot->dead_letter = true;
  return enqueue(r, slot, cfg_.routes.size() + 1, std::string(error), result);
}

ProduceStatus TxnSink::enqueue(const SinkRecord& r, DeliverySlot* slot, std::size_t topic,
                               std::string error, DeliveryResult* result) {
  std::lock_guard lk(mu_);
  if (fatal_.load()) {
    *result = retriable("_FATAL", "the transactional producer failed; the hub is restarting");
    return ProduceStatus::kFailed;
  }
  const auto it = sessions_.find(r.session);
  if (it == sessions_.end()) {
    *result = retriable("_SESSION_ENDED",
                        "this stream's session ended (a newer stream of the buffer, or its "
                        "transaction was aborted); reconnect and resend");
    return ProduceStatus::kFailed;
  }
  if (pending_.empty()) cv_.notify_one();
  pending_.push_back(Pending{r, slot, topic, std::move(error), it->second});
  in_flight_.fetch_add(1, std::memory_order_relaxed);
  return ProduceStatus::kQueued;
}

std::optional<SessionStart> TxnSink::open_session(std::string_view agent, std::string_view buffer,
                                                  std::uint64_t next_seq) {
  std::lock_guard lk(mu_);
  const std::int32_t partition = watermark_partition(agent, watermark_partitions_);
  if (!owned_.at(static_cast<std::size_t>(partition))) {
    SessionStart no;
    no.not_owner = true;
    if (ownership_) no.owner = ownership_->owner_of(partition);
    if (ownership_ && no.owner == ownership_->advertise_address()) no.owner.clear();  // stale
    return no;
  }
  std::string key = watermark_key(agent, buffer);
  auto [it, inserted] = keys_.try_emplace(key);
  KeyState& ks = it->second;
  if (inserted) {
    ks.key = std::move(key);
    ks.agent = std::string(agent);
    ks.partition = watermark_partition(agent, watermark_partitions_);
  }
  if (ks.live_session != 0) sessions_.erase(ks.live_session);
  SessionStart s;
  s.session = next_session_++;
  const std::uint64_t committed = ks.committed.load();
  if (committed != 0 && committed >= next_seq) {
    // The buffer's seq space went back (a new file under an old id): start over at 0 (duplicates
    // possible, never a skipped record). Invariant 7: a hello cannot make the hub skip records.
    ks.committed = 0;
    ks.reset_gen.fetch_add(1);
    s.reset = true;
  }
  s.durable_through = ks.committed.load();
  ks.live_session = s.session;
  sessions_[s.session] = &ks;
  return s;
}

void TxnSink::end_sessions_locked(const std::vector<std::uint64_t>& sessions,
                                  std::vector<Pending>& out) {
  for (const std::uint64_t s : sessions) {
    const auto it = sessions_.find(s);
    if (it == sessions_.end()) continue;
    if (it->second->live_session == s) it->second->live_session = 0;
    sessions_.erase(it);
  }
  auto keep = std::stable_partition(pending_.begin(), pending_.end(), [&](const Pending& p) {
    return std::find(sessions.begin(), sessions.end(), p.rec.session) == sessions.end();
  });
  std::move(keep, pending_.end(), std::back_inserter(out));
  pending_.erase(keep, pending_.end());
}

void TxnSink::report(const std::vector<DeliverySlot*>& slots, const DeliveryResult& result) {
  in_flight_.fetch_sub(slots.size(), std::memory_order_relaxed);
  if (metrics_) metrics_->set_in_flight(in_flight_.load());
  for (DeliverySlot* slot : slots) {
    if (metrics_)
      metrics_->delivered(result.ok, result.ok ? std::string() : std::string(result.error_name));
    if (slot && slot->listener) slot->listener->on_delivery(*slot, result);
  }
}

void TxnSink::run(const std::stop_token& stop) {
  auto deadline = std::chrono::steady_clock::now() + cfg_.commit_interval;
  std::vector<Pending> batch;
  while (!stop.stop_requested() && !fatal_.load()) {
    std::uint64_t wanted = 0;
    {
      std::unique_lock lk(mu_);
      cv_.wait_until(lk, stop, deadline,
                     [&] { return !pending_.empty() || commit_wanted_ != commit_done_; });
      batch.swap(pending_);
      wanted = commit_wanted_;
    }
    if (!batch.empty()) write(batch);
    batch.clear();
    producer_->poll(0);  // delivery reports (failures doom the open transaction)
    // Commits are max(interval, C + interval / 2) apart (C: a commit's own time), no longer
    // interval + C: the interval counts from a commit's start, so a record that arrived during a
    // commit no longer waits interval + 2C for its ack. A backlog drain's agent fills its window of
    // unacked records (uplink.max_inflight_batches) within the interval and then waits for the ack,
    // so the drain ran at one window per interval + C. The half interval after a commit returned:
    // when a commit takes longer than the interval (a loaded broker), committing at once made a
    // tiny transaction of what trickled in meanwhile, a whole commit paid for it while the agent's
    // refilled window waited, and no time to produce records before the next flush (measured:
    // transactions alternating 16,000 / 500 records, EOS drain down to 47k records/s).
    // No record-count trigger: committing as soon as N records are in splits the window into
    // halves that alternate (one committing, one arriving) and measured slower
    // (docs/benchmarks.md).
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline || wanted != commit_done_) {
      if (txn_open_ && !fatal_.load()) commit(stop);
      deadline = std::max(now + cfg_.commit_interval,
                          std::chrono::steady_clock::now() + cfg_.commit_interval / 2);
      std::lock_guard lk(mu_);
      commit_done_ = wanted;
      done_cv_.notify_all();
    }
  }
  std::lock_guard lk(mu_);
  done_cv_.notify_all();  // a revocation waiting for a commit that will not come
}

void TxnSink::write(std::vector<Pending>& batch) {
  const auto fail_batch = [&] {
    std::vector<DeliverySlot*> slots;
    slots.reserve(batch.size());
    for (const auto& p : batch) slots.push_back(p.slot);
    report(slots, retriable("_FATAL", "the transactional producer failed"));
  };
  if (fatal_.load()) {
    fail_batch();
    return;
  }
  if (!txn_open_) {
    if (TxnError e{rd_kafka_begin_transaction(producer_->c_ptr())}) {
      // Only a fatal producer (or a bug in the state machine) refuses to begin.
      fail_fatal(describe_txn_error("begin_transaction", e.e));
      fail_batch();
      return;
    }
    txn_open_ = true;
  }
  std::vector<std::uint64_t> ended;  // sessions whose record could not be written
  std::vector<DeliverySlot*> failed;
  for (auto& p : batch) {
    if (std::find(ended.begin(), ended.end(), p.rec.session) != ended.end()) {
      failed.push_back(p.slot);
      continue;
    }
    KeyState& ks = *p.key;
    if (const auto gen = ks.reset_gen.load(); gen != ks.seen_reset_gen) {
      ks.seen_reset_gen = gen;
      ks.txn_max = 0;
    }
    const bool dead_letter = !p.error.empty();
    if (!dead_letter && p.rec.seq <= std::max(ks.committed.load(), ks.txn_max)) {
      // Already written (committed, or in this open transaction by an earlier session of the
      // buffer): resolved with the transaction, not written twice.
      txn_entries_.push_back(Entry{p.slot, p.rec.session});
      continue;
    }
    RdKafka::Topic* topic = topic_at(p.topic);
    const std::string original =  // RdKafka::Topic::name() returns a copy: keep it alive
        dead_letter ? topic_at(route_index(cfg_.routes, p.rec.mqtt_topic))->name() : std::string();
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__QUEUE_FULL;
    for (int tries = 0; err == RD_KAFKA_RESP_ERR__QUEUE_FULL && tries < 3000; ++tries) {
      err = produce_record(producer_->c_ptr(), topic->c_ptr(), p.rec, p.slot, p.error, original);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) producer_->poll(10);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::warn(
          "kafka: agent '{}' buffer '{}' seq {} not written into the transaction: {}; its "
          "session ends and the agent resends",
          printable(p.rec.agent_id), printable(p.rec.buffer_id), p.rec.seq, rd_kafka_err2name(err));
      if (metrics_) metrics_->kafka_error(std::string("produce:") + rd_kafka_err2name(err));
      ended.push_back(p.rec.session);
      failed.push_back(p.slot);
      continue;
    }
    ks.txn_max = std::max(ks.txn_max, p.rec.seq);
    if (!ks.in_txn) {
      ks.in_txn = true;
      txn_keys_.push_back(&ks);
    }
    txn_entries_.push_back(Entry{p.slot, p.rec.session});
  }
  if (!ended.empty()) {
    std::vector<Pending> dropped;
    {
      std::lock_guard lk(mu_);
      end_sessions_locked(ended, dropped);
    }
    for (const auto& p : dropped) failed.push_back(p.slot);
  }
  if (!failed.empty()) {
    report(failed, retriable("_TXN_PRODUCE", "could not be written into the transaction"));
  }
}

void TxnSink::commit(const std::stop_token& stop) {
  const std::int64_t t_start = steady_ns();
  // The watermarks, in the same transaction as the records (KIP-618's source-offset pattern).
  for (KeyState* ks : txn_keys_) {
    const std::string value = std::to_string(ks->txn_max);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__QUEUE_FULL;
    for (int tries = 0; err == RD_KAFKA_RESP_ERR__QUEUE_FULL && tries < 3000; ++tries) {
      err = rd_kafka_producev(producer_->c_ptr(), RD_KAFKA_V_RKT(watermark_topic_->c_ptr()),
                              RD_KAFKA_V_PARTITION(ks->partition),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(ks->key.data(), ks->key.size()),
                              RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                              RD_KAFKA_V_OPAQUE(nullptr), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) producer_->poll(10);
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      abort_open(std::string("watermark record: ") + rd_kafka_err2name(err), stop);
      return;
    }
  }
  const std::int64_t t_offsets = steady_ns();
  if (!send_offsets(stop)) return;
  const std::int64_t t_commit = steady_ns();
  for (;;) {
    TxnError e{rd_kafka_commit_transaction(producer_->c_ptr(), -1)};
    if (!e) break;
    const TxnErrorClass c = classify_txn_error(e.e);
    const std::string what = describe_txn_error("commit_transaction", e.e);
    if (metrics_) metrics_->kafka_error(std::string("txn:commit:") + rd_kafka_error_name(e.e));
    if (c == TxnErrorClass::kRetriable && !stop.stop_requested()) {
      // The commit keeps going in the background; calling it again resumes it. Aborting here
      // could abort a transaction the coordinator already committed.
      spdlog::warn("kafka: {}; retrying the commit", what);
      continue;
    }
    if (c == TxnErrorClass::kFenced || c == TxnErrorClass::kFatal) {
      fail_fatal(what);
    } else {
      abort_open(what, stop);
    }
    return;
  }
  std::vector<DeliverySlot*> slots;
  slots.reserve(txn_entries_.size());
  for (const auto& e : txn_entries_) slots.push_back(e.slot);
  const std::size_t buffers = txn_keys_.size();
  {
    std::lock_guard lk(mu_);
    for (KeyState* ks : txn_keys_) {
      ks->committed = ks->txn_max;
      ks->txn_max = 0;
      ks->in_txn = false;
    }
  }
  txn_keys_.clear();
  txn_entries_.clear();
  txn_open_ = false;
  txn_failed_ = false;
  last_ok_ns_.store(steady_ns(), std::memory_order_relaxed);
  if (metrics_) metrics_->transaction("committed");
  const std::int64_t t_end = steady_ns();
  report(slots, DeliveryResult{});
  const auto ms = [](std::int64_t ns) { return static_cast<double>(ns) / 1e6; };
  spdlog::debug(
      "kafka: committed {} record(s) of {} buffer(s) in {:.1f} ms (watermarks {:.1f}, "
      "flush {:.1f}, offsets {:.1f}, commit {:.1f}), acks {:.1f} ms",
      slots.size(), buffers, ms(t_end - t_start), ms(t_offsets - t_start), ms(flush_ns_),
      ms(t_commit - t_offsets - flush_ns_), ms(t_end - t_commit), ms(steady_ns() - t_end));
}

void TxnSink::abort_open(const std::string& why, const std::stop_token& stop) {
  spdlog::warn("kafka: aborting the transaction ({} record(s)): {}{}", txn_entries_.size(), why,
               txn_failed_ ? "; a delivery failed: " + txn_failure_ : std::string());
  for (int attempt = 1;; ++attempt) {
    TxnError e{rd_kafka_abort_transaction(producer_->c_ptr(), -1)};
    if (!e) break;
    const TxnErrorClass c = classify_txn_error(e.e);
    const std::string what = describe_txn_error("abort_transaction", e.e);
    if (metrics_) metrics_->kafka_error(std::string("txn:abort:") + rd_kafka_error_name(e.e));
    // The known trap: a transaction that timed out while the link was down is abortable, and the
    // abort can fail too (timed out) until the coordinator is reachable: retry it.
    if (c == TxnErrorClass::kRetriable && !stop.stop_requested()) {
      spdlog::warn("kafka: {} (attempt {}); retrying the abort", what, attempt);
      continue;
    }
    fail_fatal(what);
    return;
  }
  producer_->poll(0);  // the purged messages' reports (ignored: this transaction is over)
  std::vector<DeliverySlot*> slots;
  std::vector<std::uint64_t> sessions;
  for (const auto& e : txn_entries_) {
    slots.push_back(e.slot);
    if (std::find(sessions.begin(), sessions.end(), e.session) == sessions.end()) {
      sessions.push_back(e.session);
    }
  }
  std::vector<Pending> dropped;
  {
    std::lock_guard lk(mu_);
    for (KeyState* ks : txn_keys_) {
      ks->txn_max = 0;
      ks->in_txn = false;
    }
    // A later record of these sessions must not commit above the aborted ones.
    end_sessions_locked(sessions, dropped);
  }
  for (const auto& p : dropped) slots.push_back(p.slot);
  txn_keys_.clear();
  txn_entries_.clear();
  txn_open_ = false;
  txn_failed_ = false;
  if (metrics_) metrics_->transaction("aborted");
  report(slots, retriable("_TXN_ABORTED", "the Kafka transaction was aborted; resend"));
}

void TxnSink::fail_fatal(const std::string& why) {
  if (fatal_.exchange(true)) return;
  spdlog::critical(
      "kafka: the transactional producer '{}' cannot go on: {}. Refusing records; the hub shuts "
      "down so that its orchestrator restarts it (the restart fences this incarnation)",
      cfg_.transactional_id, why);
  if (metrics_) metrics_->transaction("fatal");
  {
    std::lock_guard lk(health_mu_);
    health_reason_ = "fatal Kafka transaction error: " + why;
  }
  // No record may be reported while librdkafka still points at its payload.
  rd_kafka_purge(producer_->c_ptr(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  producer_->poll(0);
  std::vector<DeliverySlot*> slots;
  for (const auto& e : txn_entries_) slots.push_back(e.slot);
  txn_entries_.clear();
  txn_keys_.clear();
  {
    std::lock_guard lk(mu_);
    for (const auto& p : pending_) slots.push_back(p.slot);
    pending_.clear();
    for (auto& [k, ks] : keys_) ks.live_session = 0;
    sessions_.clear();
  }
  report(slots, retriable("_FATAL", "the transactional producer failed; the hub is restarting"));
  if (on_fatal_) on_fatal_();
}

void TxnSink::dr_cb(RdKafka::Message& m) {
  const auto err = static_cast<rd_kafka_resp_err_t>(m.err());
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    last_ok_ns_.store(steady_ns(), std::memory_order_relaxed);
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) return;
  // The record's slot is reported with its transaction, never from here.
  spdlog::warn("kafka: a record to '{}' failed inside the transaction: {} ({})", m.topic_name(),
               m.errstr(), rd_kafka_err2name(err));
  if (!txn_failed_) txn_failure_ = rd_kafka_err2name(err);
  txn_failed_ = true;
}

void TxnSink::event_cb(RdKafka::Event& e) {
  if (e.type() == RdKafka::Event::EVENT_ERROR) {
    if (metrics_)
      metrics_->kafka_error(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(e.err())));
    if (e.fatal()) {
      spdlog::critical("kafka: fatal producer error: {} ({})", e.str(), RdKafka::err2str(e.err()));
    } else {
      spdlog::warn("kafka: {} ({})", e.str(), RdKafka::err2str(e.err()));
    }
  } else if (e.type() == RdKafka::Event::EVENT_LOG &&
             e.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) {
    spdlog::warn("kafka: {} {}", e.fac(), e.str());
  }
}

void TxnSink::health_loop(const std::stop_token& stop) {
  std::mutex m;
  std::condition_variable_any cv;
  while (!stop.stop_requested()) {
    RdKafka::Metadata* md = nullptr;
    const auto err =
        producer_->metadata(false, nullptr, &md, static_cast<int>(cfg_.health_check.count()));
    std::unique_ptr<RdKafka::Metadata> owned(md);
    if (err == RdKafka::ERR_NO_ERROR && owned && !owned->brokers()->empty()) {
      last_ok_ns_.store(steady_ns(), std::memory_order_relaxed);
    } else {
      std::lock_guard lk(health_mu_);
      if (!fatal_.load())
        health_reason_ = "Kafka metadata request failed: " + RdKafka::err2str(err);
    }
    if (metrics_) metrics_->set_in_flight(in_flight_.load());
    std::unique_lock lk(m);
    cv.wait_for(lk, stop, cfg_.health_check, [] { return false; });
  }
}

bool TxnSink::healthy(std::string* reason) const {
  if (fatal_.load()) {
    if (reason) {
      std::lock_guard lk(health_mu_);
      *reason = health_reason_;
    }
    return false;
  }
  const std::int64_t window = 3 * std::chrono::nanoseconds(cfg_.health_check).count();
  const bool ok = steady_ns() - last_ok_ns_.load(std::memory_order_relaxed) <= window;
  if (!ok && reason) {
    std::lock_guard lk(health_mu_);
    *reason = health_reason_;
  }
  return ok;
}

bool TxnSink::flush(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (in_flight_.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline || fatal_.load()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace edgesync::hub
