// SqliteBuffer: bounds and drop policies (max_bytes, max_age, disk full), accounting, maintenance.
#include <spdlog/spdlog.h>

#include <filesystem>

#include "buffer/disk_reserve.hpp"
#include "buffer/sqlite_buffer.hpp"
#include "buffer/sqlite_buffer_internal.hpp"

namespace edgesync::agent {

using namespace sqlite_buffer_detail;

SqliteBuffer::PrefixCost SqliteBuffer::prefix_cost(std::uint64_t through) {
  sqlite::Stmt st(wdb_, "SELECT count(*), coalesce(sum(" + record_cost_sql() +
                            "), 0) FROM records WHERE seq <= ?1");
  st.bind(1, static_cast<std::int64_t>(through));
  if (st.step() != SQLITE_ROW) return {};
  return {static_cast<std::uint64_t>(st.int64(0)), static_cast<std::uint64_t>(st.int64(1))};
}

int SqliteBuffer::drop_prefix(std::uint64_t through, DropReason reason, Changes& c) {
  const auto [n, bytes] = prefix_cost(through);
  if (n == 0) return SQLITE_OK;
  sqlite::StmtScope scope(delete_);
  delete_.bind(1, static_cast<std::int64_t>(through));
  if (const int rc = delete_.step(); rc != SQLITE_DONE) return rc;
  c.dropped[drop_index(reason)] += n;
  c.dropped_records += n;
  c.dropped_bytes += bytes;
  return SQLITE_OK;
}

std::uint64_t SqliteBuffer::scan_prefix(
    const std::function<bool(std::int64_t received_ns, std::uint64_t cost)>& keep_going) {
  std::uint64_t cursor = 0, last = 0;
  for (bool more = true; more;) {
    more = false;
    sqlite::StmtScope scope(oldest_);
    oldest_.bind(1, static_cast<std::int64_t>(cursor));
    int rc;
    while ((rc = oldest_.step()) == SQLITE_ROW) {
      cursor = static_cast<std::uint64_t>(oldest_.int64(0));
      if (!keep_going(oldest_.int64(1), static_cast<std::uint64_t>(oldest_.int64(2)))) return last;
      last = cursor;
      more = true;
    }
    if (rc != SQLITE_DONE) return last;
  }
  return last;
}

int SqliteBuffer::expire_old(Changes& c) {
  // The oldest records (seq order ~ receive order) older than max_age.
  const std::int64_t cutoff =
      now_unix_ns() - std::chrono::duration_cast<std::chrono::nanoseconds>(opts_.max_age).count();
  const auto last = scan_prefix([&](std::int64_t ns, std::uint64_t) { return ns < cutoff; });
  return last ? drop_prefix(last, DropReason::kExpired, c) : SQLITE_OK;
}

int SqliteBuffer::make_room(const Work& w, Changes& c) {
  // By count after SQLITE_FULL, by bytes when the file system runs low.
  std::uint64_t n = 0, sum = 0;
  const auto last = scan_prefix([&](std::int64_t, std::uint64_t cost) {
    if (w.emergency_drop_records > 0) return n++ < w.emergency_drop_records;
    if (sum >= w.space_drop_bytes) return false;
    sum += cost;
    return true;
  });
  return last ? drop_prefix(last, DropReason::kDiskFull, c) : SQLITE_OK;
}

int SqliteBuffer::drop_over_max_bytes(Changes& c) {
  if (opts_.max_bytes == 0 || opts_.full_policy != FullPolicy::kDropOldest) return SQLITE_OK;
  const std::uint64_t stored =
      stored_bytes_.load() + c.added_bytes - c.acked_bytes - c.dropped_bytes;
  if (stored <= opts_.max_bytes) return SQLITE_OK;
  const std::uint64_t excess = stored - opts_.max_bytes;
  std::uint64_t sum = 0;
  const auto last = scan_prefix([&](std::int64_t, std::uint64_t cost) {
    if (sum >= excess) return false;
    sum += cost;
    return true;
  });
  return last ? drop_prefix(last, DropReason::kOldest, c) : SQLITE_OK;
}

void SqliteBuffer::refresh_accounting() {
  std::lock_guard wl(wmu_);
  sqlite::Stmt st(wdb_,
                  "SELECT count(*), coalesce(sum(" + record_cost_sql() + "), 0) FROM records");
  if (st.step() == SQLITE_ROW) {
    stored_records_ = static_cast<std::uint64_t>(st.int64(0));
    stored_bytes_ = static_cast<std::uint64_t>(st.int64(1));
  }
  sqlite::Stmt o(wdb_, "SELECT received_ns FROM records ORDER BY seq LIMIT 1");
  oldest_ns_ = o.step() == SQLITE_ROW ? o.int64(0) : 0;
  purged_ = scalar_u64(
      wdb_, ("SELECT value FROM meta WHERE key = '" + drop_meta_key(kPurgeDropName) + "'").c_str());
}

void SqliteBuffer::maintenance() {
  refresh_accounting();  // also picks up records purged by the field CLI
  std::lock_guard wl(wmu_);
  const auto freelist = scalar_u64(wdb_, "PRAGMA freelist_count");
  const auto pages = scalar_u64(wdb_, "PRAGMA page_count");
  // Also when the disk reserve is gone (disk full): free pages back to the file system let it
  // be created again.
  if ((freelist > 1024 && freelist * 4 > pages) ||
      (freelist > 0 && !reserve_.held() && opts_.disk_reserve_bytes > 0)) {
    // Hand back space after a long outage drained (SD cards and small disks).
    wdb_.try_exec(("PRAGMA incremental_vacuum(" + std::to_string(freelist) + ")").c_str());
    spdlog::info("buffer: reclaimed {} free pages of {}", freelist, pages);
  }
  std::error_code ec;
  const auto wal = std::filesystem::file_size(opts_.path + "-wal", ec);
  // The vacuum shrinks the database only when its WAL frames are checkpointed. An idle buffer
  // writes nothing that would trigger the auto-checkpoint, so on a full disk (reserve released)
  // checkpoint now: otherwise the space an ack freed never reaches the file system and the
  // disk-full state never ends.
  if ((!ec && wal > (16u << 20)) || (!reserve_.held() && opts_.disk_reserve_bytes > 0)) {
    wdb_.try_exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
}

}  // namespace edgesync::agent
