// SqliteBuffer: session epoch and dead letters (short transactions under the writer's lock).
#include <spdlog/spdlog.h>

#include <thread>

#include "buffer/sqlite_buffer.hpp"
#include "buffer/sqlite_buffer_internal.hpp"

namespace edgesync::agent {

using namespace sqlite_buffer_detail;

std::uint64_t SqliteBuffer::next_epoch() {
  std::lock_guard wl(wmu_);
  // max(previous + 1, wall clock ms): grows across restarts and also after the file was replaced.
  const auto now_ms = static_cast<std::uint64_t>(now_unix_ns() / 1'000'000);
  const std::uint64_t want = std::max(epoch_ + 1, now_ms);
  std::string why;
  try {
    sqlite::Stmt st(wdb_, "UPDATE meta SET value = max(value + 1, ?1) WHERE key = 'epoch'");
    st.bind(1, static_cast<std::int64_t>(want));
    const int rc = st.step();
    if (rc == SQLITE_DONE) {
      epoch_ = std::max(want, scalar_u64(wdb_, "SELECT value FROM meta WHERE key = 'epoch'"));
      epoch_dirty_ = false;
      return epoch_;
    }
    why = wdb_.errmsg();
    if (is_disk_full_code(rc)) note_disk_full();
  } catch (const std::exception& e) {
    why = e.what();
  }
  // Never fatal: the value only has to grow, in this process and after it (persisted with the
  // next commit, and a restart takes max(stored + 1, wall clock) again).
  epoch_ = want;
  if (epoch_dirty_.exchange(true)) return epoch_;  // logged once per episode
  spdlog::warn(
      "buffer: cannot persist session epoch on {} ({}); using {} from memory until a "
      "commit can store it",
      opts_.path, why, epoch_);
  return epoch_;
}

bool SqliteBuffer::persist_epoch_if_needed() {
  if (!epoch_dirty_) return true;
  sqlite::Stmt st(wdb_, "UPDATE meta SET value = max(value, ?1) WHERE key = 'epoch'");
  st.bind(1, static_cast<std::int64_t>(epoch_));
  return st.step() == SQLITE_DONE;
}

std::uint64_t SqliteBuffer::dead_letter_limit() const {
  // A tenth of buffer.max_bytes (at least 1 MiB), 64 MiB when the buffer is unbounded.
  return opts_.max_bytes > 0 ? std::max<std::uint64_t>(opts_.max_bytes / 10, 1u << 20)
                             : std::uint64_t{64} << 20;
}

int SqliteBuffer::evict_dead_letters(std::uint64_t* evicted) {
  // Newest first, keep what fits into the limit; the older rest goes, counted.
  sqlite::Stmt del(wdb_,
                   "DELETE FROM dead_letter WHERE seq <= (SELECT max(seq) FROM (SELECT seq, "
                   "sum(" +
                       record_cost_sql() +
                       " + length(reason)) OVER (ORDER BY seq DESC) AS kept FROM dead_letter) "
                       "WHERE kept > ?1)");
  del.bind(1, static_cast<std::int64_t>(dead_letter_limit()));
  int rc = del.step();
  if (rc != SQLITE_DONE) return rc;
  *evicted = static_cast<std::uint64_t>(sqlite3_changes(wdb_.get()));
  if (*evicted == 0) return SQLITE_DONE;
  spdlog::warn("buffer: {} oldest dead letters deleted to keep the table within {} bytes", *evicted,
               dead_letter_limit());
  sqlite::Stmt bump(wdb_,
                    "INSERT INTO meta(key, value) VALUES ('dead_letter_evicted', ?1) "
                    "ON CONFLICT(key) DO UPDATE SET value = value + ?1");
  bump.bind(1, static_cast<std::int64_t>(*evicted));
  return bump.step();
}

bool SqliteBuffer::dead_letter(std::uint64_t seq, std::string_view reason) {
  constexpr int kAttempts = 5;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    std::unique_lock wl(wmu_);
    int rc = wdb_.try_exec("BEGIN IMMEDIATE");
    std::uint64_t moved = 0, bytes = 0, evicted = 0;
    if (rc == SQLITE_OK) {
      sqlite::Stmt cost(wdb_, "SELECT " + record_cost_sql() + " FROM records WHERE seq = ?1");
      cost.bind(1, static_cast<std::int64_t>(seq));
      if ((rc = cost.step()) == SQLITE_ROW) {
        bytes = static_cast<std::uint64_t>(cost.int64(0));
        sqlite::Stmt ins(wdb_,
                         "INSERT OR REPLACE INTO dead_letter(seq, device_id, topic, payload, "
                         "received_ns, qos, reason, dead_lettered_ns) SELECT seq, device_id, "
                         "topic, payload, received_ns, qos, ?2, ?3 FROM records WHERE seq = ?1");
        ins.bind(1, static_cast<std::int64_t>(seq));
        ins.bind(2, reason);
        ins.bind(3, now_unix_ns());
        sqlite::Stmt del(wdb_, "DELETE FROM records WHERE seq = ?1");
        del.bind(1, static_cast<std::int64_t>(seq));
        sqlite::Stmt bump(wdb_, "UPDATE meta SET value = value + 1 WHERE key = 'dead_lettered'");
        if ((rc = ins.step()) == SQLITE_DONE && (rc = del.step()) == SQLITE_DONE &&
            (rc = bump.step()) == SQLITE_DONE &&
            (rc = evict_dead_letters(&evicted)) == SQLITE_DONE) {
          moved = 1;
          rc = SQLITE_OK;
        }
      } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;  // not stored (acked, dropped or never committed): nothing to do
      }
      if (rc == SQLITE_OK) rc = wdb_.try_exec("COMMIT");
    }
    if (rc == SQLITE_OK) {
      if (moved) {
        ++dead_lettered_;
        dead_letter_rows_ += 1;
        dead_letter_rows_ -= std::min(dead_letter_rows_.load(), evicted);
        stored_records_ -= std::min<std::uint64_t>(stored_records_.load(), 1);
        stored_bytes_ -= std::min(stored_bytes_.load(), bytes);
        spdlog::warn("buffer: record seq {} moved to the dead-letter table: {}", seq, reason);
      }
      return true;
    }
    const std::string err = wdb_.errmsg();
    wdb_.try_exec("ROLLBACK");
    if (is_disk_full_code(rc)) note_disk_full();
    wl.unlock();
    if (attempt == kAttempts) {
      spdlog::error(
          "buffer: cannot move record seq {} to the dead-letter table on {}: {} (rc={}); it "
          "stays in the buffer, is not acked and is sent again later ({})",
          seq, opts_.path, err, rc, reason);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
  }
  return false;
}

}  // namespace edgesync::agent
