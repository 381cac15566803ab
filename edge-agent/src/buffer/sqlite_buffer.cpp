#include "buffer/sqlite_buffer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "buffer/record_row.hpp"
#include "buffer/sqlite_buffer_internal.hpp"

namespace edgesync::agent {

using namespace sqlite_buffer_detail;

namespace {

sqlite::Db open_reader(const std::string& path) {
  sqlite::Db db(path, SQLITE_OPEN_READONLY);
  db.busy_timeout(sqlite::kWriterBusyTimeoutMs);
  return db;
}

}  // namespace

SqliteBuffer::SqliteBuffer(SqliteBufferOptions opts)
    : opts_(std::move(opts)),
      reserve_(opts_.path, opts_.disk_reserve_bytes),
      wdb_(open_store(opts_.path, opts_.synchronous_full, opts_.quick_check, &open_result_,
                      &reserve_)),
      insert_(wdb_,
              "INSERT INTO records(seq, device_id, topic, payload, received_ns, qos) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
      delete_(wdb_, "DELETE FROM records WHERE seq <= ?1"),
      set_next_(wdb_, "INSERT OR REPLACE INTO meta(key, value) VALUES ('next_seq', ?1)"),
      add_counter_(wdb_, "UPDATE meta SET value = value + ?2 WHERE key = ?1"),
      set_state_(wdb_, "INSERT OR REPLACE INTO state(key, value) VALUES (?1, ?2)"),
      oldest_(wdb_, "SELECT seq, received_ns, " + record_cost_sql() +
                        " FROM records WHERE seq > ?1 ORDER BY seq LIMIT 512"),
      floor_(opts_.path),
      rdb_(open_reader(opts_.path)),
      select_(rdb_, std::string("SELECT ") + kRecordColumns +
                        " FROM records WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
      min_seq_(rdb_, "SELECT min(seq) FROM records") {
  if (opts_.max_page_count > 0) {
    wdb_.exec("PRAGMA max_page_count=" + std::to_string(opts_.max_page_count));
  }
  const auto from_meta = scalar_u64(wdb_, "SELECT value FROM meta WHERE key = 'next_seq'");
  const auto from_data = scalar_u64(wdb_, "SELECT coalesce(max(seq), 0) + 1 FROM records");
  const auto from_floor = open_result_.fresh ? floor_.reserved_through() + 1 : 0;
  next_seq_ = std::max<std::uint64_t>({from_meta, from_data, from_floor, 1});
  if (open_result_.fresh) {
    sqlite::StmtScope scope(set_next_);
    set_next_.bind(1, static_cast<std::int64_t>(next_seq_.load()));
    set_next_.step();
    if (from_floor > 1) {
      spdlog::warn("buffer: new database file; sequence numbers continue at {} (floor file)",
                   next_seq_.load());
    }
  }
  floor_.ensure(next_seq_);  // on a full disk: retried before the next commit
  buffer_id_ = floor_.buffer_id();
  page_size_ = std::max<std::uint64_t>(512, scalar_u64(wdb_, "PRAGMA page_size"));
  low_water_ = std::max<std::uint64_t>(opts_.disk_reserve_bytes, 1u << 20);
  epoch_ = scalar_u64(wdb_, "SELECT value FROM meta WHERE key = 'epoch'");
  committed_seq_ = next_seq_ - 1;
  for (const DropReason r : kAllDropReasons) {
    const std::string key = drop_meta_key(r);  // bound without a copy: outlives the step
    sqlite::Stmt st(wdb_, "SELECT value FROM meta WHERE key = ?1");
    st.bind(1, key);
    dropped_[drop_index(r)] = st.step() == SQLITE_ROW ? static_cast<std::uint64_t>(st.int64(0)) : 0;
  }
  quarantined_ = scalar_u64(wdb_, "SELECT value FROM meta WHERE key = 'quarantined_files'");
  dead_lettered_ = scalar_u64(wdb_, "SELECT value FROM meta WHERE key = 'dead_lettered'");
  dead_letter_rows_ = scalar_u64(wdb_, "SELECT count(*) FROM dead_letter");
  refresh_accounting();
  if (!reserve_.held() && !reserve_.restore() && opts_.disk_reserve_bytes > 0) {
    spdlog::warn("buffer: no room for the {} byte disk reserve beside {} yet; retried later",
                 opts_.disk_reserve_bytes, opts_.path);
  }
  store_rescued();
  writer_ = std::jthread([this] { writer_loop(); });
  spdlog::info(
      "buffer: opened {} (buffer id {}, {} records stored, next seq {}, synchronous={}, commit "
      "window {}, max {} bytes, max age {} s, when full: {})",
      opts_.path, buffer_id_, stored_records_.load(), next_seq_.load(),
      opts_.synchronous_full ? "FULL" : "NORMAL", opts_.commit_window, opts_.max_bytes,
      opts_.max_age.count(), opts_.full_policy == FullPolicy::kBlock ? "block" : "drop-oldest");
}

SqliteBuffer::~SqliteBuffer() {
  stop();
}

void SqliteBuffer::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
  }
  work_cv_.notify_all();
  committed_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

bool SqliteBuffer::space_for_more() const {
  if (opts_.full_policy != FullPolicy::kBlock) return true;
  // A full disk holds appends like max_bytes, except a batch already queued (it is retried).
  if (disk_full_.load() && !pending_.empty()) return false;
  return opts_.max_bytes == 0 || stored_bytes_.load() < opts_.max_bytes;
}

AppendStatus SqliteBuffer::append(IncomingMessage msg) {
  std::unique_lock lk(mu_);
  // Policy "block": hold the caller (Paho's thread, hence the broker) until acks free space.
  committed_cv_.wait(lk, [&] { return space_for_more() || stopping_ || writer_done_; });
  if (!failure_.empty()) return AppendStatus::kFailed;
  if (stopping_ || writer_done_) return AppendStatus::kStopped;
  pending_.push_back(std::move(msg));
  const std::uint64_t ticket = ++appended_;
  // While the writer gathers (commit_delay), wake it only when the window is full: a wake-up
  // per message would cost a futex call and a context switch each.
  if (!gathering_ || pending_.size() >= gather_full_) work_cv_.notify_one();
  if (opts_.commit_window == 0) {
    committed_cv_.wait(lk, [&] { return committed_ >= ticket || writer_done_; });
  } else {
    committed_cv_.wait(
        lk, [&] { return appended_ - committed_ < opts_.commit_window || writer_done_; });
  }
  // Kept in the rescue file (fsynced) counts as stored: the next start commits it.
  if (!failure_.empty() && committed_ < ticket && ticket > rescued_through_) {
    return AppendStatus::kFailed;
  }
  return AppendStatus::kAccepted;
}

void SqliteBuffer::writer_loop() {
  using clock = std::chrono::steady_clock;
  auto next_expiry = clock::now();
  auto next_maintenance = clock::now() + opts_.maintenance_interval;
  int failures = 0;
  int permanent = 0;  // consecutive failures that retrying cannot cure (is_permanent_code)
  Work w;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      work_cv_.wait_for(lk, std::chrono::seconds(1), [&] {
        return !pending_.empty() || requested_ack_ > applied_ack_ || stopping_ ||
               !pending_state_.empty();
      });
      const bool work = !pending_.empty() || requested_ack_ > applied_ack_;
      if (work && opts_.commit_delay.count() > 0 && opts_.commit_window > 0 && !stopping_) {
        // Gather: fewer, larger transactions at low rates. A full window (appenders blocked)
        // or a stop ends the wait at once.
        gathering_ = true;
        work_cv_.wait_for(lk, opts_.commit_delay,
                          [&] { return pending_.size() >= gather_full_ || stopping_; });
        gathering_ = false;
      }
      const bool idle = pending_.empty() && requested_ack_ <= applied_ack_;
      if (idle && stopping_) break;
      if (stopping_ && failures > (disk_full_ ? 3 : 20)) {
        spdlog::error("buffer: giving up at shutdown with {} messages not committed",
                      pending_.size());
        break;
      }
      const std::size_t n = std::min(pending_.size(), opts_.max_commit_batch);
      w = Work{};
      w.batch.assign(std::make_move_iterator(pending_.begin()),
                     std::make_move_iterator(pending_.begin() + static_cast<std::ptrdiff_t>(n)));
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
      w.ack = requested_ack_;
      w.state.swap(pending_state_);
      for (std::size_t r = 0; r < kDropReasons; ++r)
        std::swap(w.external_drops[r], pending_drops_[r]);
    }
    if (opts_.max_age.count() > 0 && clock::now() >= next_expiry) {
      w.expire = true;
      next_expiry = clock::now() + opts_.expiry_interval;
    }
    // After SQLITE_FULL (once per failure): drop a tenth of the buffer to make room at once.
    if (emergency_.exchange(false) && opts_.full_policy == FullPolicy::kDropOldest) {
      w.emergency_drop_records = std::max<std::uint64_t>(512, stored_records_.load() / 10);
      // and shrink the database to what its file holds, so the checkpoint needs no new space
      // and the WAL can start over.
      w.vacuum_pages = 128;  // bounded: its WAL frames must fit into the released reserve
    }
    const bool has_work = !w.batch.empty() || w.ack > applied_ack_ || !w.state.empty() ||
                          w.expire || w.emergency_drop_records > 0 || epoch_dirty_.load();
    CommitResult res{true, SQLITE_OK};
    if (has_work && disk_full_ && !w.batch.empty()) {
      // Disk full: acks, drops, counters and state go first in a transaction of their own, so
      // inserts that do not fit cannot hold back what frees space.
      Work rows;
      rows.batch.swap(w.batch);
      // Only the batch counts as a (consecutive) failure: shutdown gives up after 20 of them.
      int room_failures = 0;
      res = commit(w);
      finish(w, res.ok, room_failures);
      if (res.ok) res = commit(rows);
      finish(rows, res.ok, failures);
    } else {
      if (has_work) res = commit(w);
      finish(w, res.ok, failures);
    }
    const bool ok = res.ok;
    permanent = ok ? 0 : permanent + (is_permanent_code(res.rc) ? 1 : 0);
    if (permanent >= kPermanentFailureLimit) {
      fail_for_good(res.rc);
      break;
    }
    if (disk_full_ || !reserve_.held()) check_space_returned();
    committed_cv_.notify_all();
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50 * failures, 1000)));
    if (ok && clock::now() >= next_maintenance) {
      maintenance();
      next_maintenance = clock::now() + opts_.maintenance_interval;
    }
  }
  std::lock_guard lk(mu_);
  writer_done_ = true;
  committed_cv_.notify_all();
}

void SqliteBuffer::finish(Work& w, bool ok, int& failures) {
  std::lock_guard lk(mu_);
  if (ok) {
    committed_ += w.batch.size();
    committed_seq_ = next_seq_.load() - 1;
    applied_ack_ = std::max(applied_ack_, w.ack);
    failures = 0;
    return;
  }
  // Keep order: the failed batch goes back in front of what arrived meanwhile.
  pending_.insert(pending_.begin(), std::make_move_iterator(w.batch.begin()),
                  std::make_move_iterator(w.batch.end()));
  for (auto& kv : w.state) pending_state_.push_back(std::move(kv));
  for (std::size_t r = 0; r < kDropReasons; ++r) pending_drops_[r] += w.external_drops[r];
  ++failures;
}

void SqliteBuffer::ack_through(std::uint64_t through) {
  {
    std::lock_guard lk(mu_);
    if (through <= requested_ack_) return;
    requested_ack_ = std::min(through, committed_seq_);
  }
  work_cv_.notify_one();
}

bool SqliteBuffer::wait_for_records(std::uint64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  return committed_cv_.wait_for(lk, timeout, [&] { return committed_seq_ > after || stopping_; }) &&
         committed_seq_ > after;
}

void SqliteBuffer::record_drop(DropReason reason, std::uint64_t n) {
  {
    std::lock_guard lk(mu_);
    pending_drops_[drop_index(reason)] += n;
  }
  work_cv_.notify_one();
}

void SqliteBuffer::publish_state(std::vector<std::pair<std::string, std::string>> kv) {
  {
    std::lock_guard lk(mu_);
    for (auto& p : kv) pending_state_.push_back(std::move(p));
  }
  work_cv_.notify_one();
}

}  // namespace edgesync::agent
