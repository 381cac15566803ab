// SqliteBuffer::commit: one transaction of the writer, as steps. Each step returns its SQLite
// code (SQLITE_OK: go on) and records what it changed in a Changes, which apply_committed() puts
// into the in-memory figures once the transaction committed.
#include <spdlog/spdlog.h>

#include <cerrno>
#include <span>

#include "buffer/sqlite_buffer.hpp"
#include "buffer/sqlite_buffer_internal.hpp"

namespace edgesync::agent {

using namespace sqlite_buffer_detail;

SqliteBuffer::CommitResult SqliteBuffer::commit(Work& w) {
  std::lock_guard wl(wmu_);
  Changes c;
  c.next_seq = next_seq_.load();
  if (!w.batch.empty() && !floor_.ensure(c.next_seq + w.batch.size())) {
    const int rc = floor_.last_errno() == ENOSPC ? SQLITE_FULL : SQLITE_IOERR;
    commit_errors_.fetch_add(1);
    if (rc == SQLITE_FULL) note_disk_full();
    return {false, rc};
  }
  int rc = wdb_.try_exec("BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) return rollback(w, "BEGIN", rc);
  if (!w.batch.empty() && opts_.max_page_count == 0 && !plan_space(w)) {
    wdb_.try_exec("ROLLBACK");  // block policy on a full disk: the batch waits, no error
    return {false, SQLITE_OK};
  }
  bool expired = false;
  if (w.emergency_drop_records > 0 || w.space_drop_bytes > 0) {
    // Disk full under drop-oldest: make room before inserting (expired records go first).
    if (w.expire && (rc = expire_old(c)) != SQLITE_OK) return rollback(w, "DELETE (disk full)", rc);
    expired = true;
    if ((rc = make_room(w, c)) != SQLITE_OK) return rollback(w, "DELETE (disk full)", rc);
  }
  if (w.vacuum_pages > 0) {
    const std::string sql = "PRAGMA incremental_vacuum(" + std::to_string(w.vacuum_pages) + ")";
    if ((rc = wdb_.try_exec(sql.c_str())) != SQLITE_OK)
      return rollback(w, "incremental_vacuum", rc);
  }
  if ((rc = insert_batch(w, c)) != SQLITE_OK) return rollback(w, "INSERT", rc);
  if (w.ack > 0 && (rc = delete_acked(w.ack, c)) != SQLITE_OK)
    return rollback(w, "DELETE acked", rc);
  if (w.expire && !expired && (rc = expire_old(c)) != SQLITE_OK)
    return rollback(w, "DELETE (bounds)", rc);
  if ((rc = drop_over_max_bytes(c)) != SQLITE_OK) return rollback(w, "DELETE (bounds)", rc);
  if ((rc = write_drop_counters(w, c)) != SQLITE_OK) return rollback(w, "UPDATE counters", rc);
  if ((rc = write_state(w)) != SQLITE_OK) return rollback(w, "UPDATE state", rc);
  if (c.next_seq != next_seq_.load()) {
    sqlite::StmtScope scope(set_next_);
    set_next_.bind(1, static_cast<std::int64_t>(c.next_seq));
    if ((rc = set_next_.step()) != SQLITE_DONE) return rollback(w, "UPDATE next_seq", rc);
  }
  if (!persist_epoch_if_needed()) return rollback(w, "UPDATE epoch", sqlite3_errcode(wdb_.get()));
  if ((rc = wdb_.try_exec("COMMIT")) != SQLITE_OK) return rollback(w, "COMMIT", rc);
  epoch_dirty_ = false;
  if (w.vacuum_pages > 0) wdb_.try_exec("PRAGMA wal_checkpoint(PASSIVE)");  // shrinks the file
  apply_committed(w, c);
  return {true, SQLITE_OK};
}

SqliteBuffer::CommitResult SqliteBuffer::rollback(const Work& w, const char* what, int rc) {
  const bool full = is_disk_full_code(rc);
  const auto errors = commit_errors_.load() + 1;
  if ((errors & (errors - 1)) == 0)  // 1st, 2nd, 4th, 8th, ... failure: no log flood
    spdlog::error(
        "buffer: {} failed on {}: {} (rc={}){}; {} messages stay queued and are retried "
        "(failure #{}, logged at powers of two)",
        what, opts_.path, wdb_.errmsg(), rc,
        full ? " - DISK FULL: " + std::string(opts_.full_policy == FullPolicy::kBlock
                                                  ? "holding back MQTT until space frees"
                                                  : "dropping the oldest records")
             : std::string(),
        w.batch.size(), errors);
  wdb_.try_exec("ROLLBACK");
  commit_errors_.fetch_add(1);
  if (full) note_disk_full();
  return {false, rc};
}

int SqliteBuffer::insert_batch(const Work& w, Changes& c) {
  for (const auto& m : w.batch) {
    sqlite::StmtScope scope(insert_);
    insert_.bind(1, static_cast<std::int64_t>(c.next_seq));
    insert_.bind(2, std::string_view(m.device_id));
    insert_.bind(3, std::string_view(m.topic));
    insert_.bind_blob(4, std::span<const char>(m.payload.data(), m.payload.size()));
    insert_.bind(5, m.received_unix_ns);
    insert_.bind(6, static_cast<std::int64_t>(m.qos));
    if (const int rc = insert_.step(); rc != SQLITE_DONE) return rc;
    c.added_bytes += record_cost(m.payload.size(), m.topic.size(), m.device_id.size());
    ++c.next_seq;
  }
  return SQLITE_OK;
}

int SqliteBuffer::delete_acked(std::uint64_t through, Changes& c) {
  const PrefixCost acked = prefix_cost(through);
  c.acked_records = acked.records;
  c.acked_bytes = acked.bytes;
  if (acked.records == 0) return SQLITE_OK;
  sqlite::StmtScope scope(delete_);
  delete_.bind(1, static_cast<std::int64_t>(through));
  const int rc = delete_.step();
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int SqliteBuffer::write_drop_counters(const Work& w, const Changes& c) {
  for (const DropReason reason : kAllDropReasons) {
    const std::size_t r = drop_index(reason);
    const std::uint64_t n = w.external_drops[r] + c.dropped[r];
    if (n == 0) continue;
    const std::string key = drop_meta_key(reason);
    sqlite::StmtScope scope(add_counter_);
    add_counter_.bind(1, std::string_view(key));
    add_counter_.bind(2, static_cast<std::int64_t>(n));
    if (const int rc = add_counter_.step(); rc != SQLITE_DONE) return rc;
  }
  return SQLITE_OK;
}

int SqliteBuffer::write_state(const Work& w) {
  for (const auto& [k, v] : w.state) {
    sqlite::StmtScope scope(set_state_);
    set_state_.bind(1, std::string_view(k));
    set_state_.bind(2, std::string_view(v));
    if (const int rc = set_state_.step(); rc != SQLITE_DONE) return rc;
  }
  return SQLITE_OK;
}

void SqliteBuffer::apply_committed(const Work& w, const Changes& c) {
  next_seq_ = c.next_seq;
  ++commits_;
  committed_total_ += w.batch.size();
  acked_total_ += c.acked_records;
  stored_records_ += w.batch.size();
  stored_records_ -= std::min(stored_records_.load(), c.acked_records + c.dropped_records);
  stored_bytes_ += c.added_bytes;
  stored_bytes_ -= std::min(stored_bytes_.load(), c.acked_bytes + c.dropped_bytes);
  // Drops are logged at most every 10 s (a full buffer under load drops at every commit).
  const auto now = std::chrono::steady_clock::now();
  const bool log_now = now >= next_drop_log_;
  for (const DropReason reason : kAllDropReasons) {
    const std::size_t r = drop_index(reason);
    dropped_[r] += w.external_drops[r] + c.dropped[r];
    unlogged_drops_[r] += c.dropped[r];
    if (log_now && unlogged_drops_[r] > 0) {
      spdlog::warn("buffer: dropped {} records ({}) to stay within bounds{}", unlogged_drops_[r],
                   drop_reason_name(reason),
                   next_drop_log_.time_since_epoch().count() == 0 ? "" : " (in the last 10 s)");
      unlogged_drops_[r] = 0;
      next_drop_log_ = now + std::chrono::seconds(10);
    }
  }
  if (!w.batch.empty() && !w.low_space && disk_full_.exchange(false)) {
    spdlog::info("buffer: records fit on {} again: disk full state over", opts_.path);
  }
  if (c.acked_records + c.dropped_records > 0 || oldest_ns_.load() == 0) {
    sqlite::Stmt st(wdb_, "SELECT received_ns FROM records ORDER BY seq LIMIT 1");
    oldest_ns_ = st.step() == SQLITE_ROW ? st.int64(0) : 0;
  }
}

}  // namespace edgesync::agent
