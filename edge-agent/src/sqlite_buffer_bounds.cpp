// SqliteBuffer: bounds and drop policies (max_bytes, max_age, disk full), accounting, maintenance.
#include <spdlog/spdlog.h>

#include <filesystem>

#include "disk_reserve.hpp"
#include "sqlite_buffer.hpp"
#include "sqlite_buffer_internal.hpp"

namespace edgesync::agent {

using namespace sqlite_buffer_detail;

std::uint64_t SqliteBuffer::drop_prefix(std::uint64_t through, DropReason reason, Work& w) {
  sqlite::Stmt st(wdb_,
                  "SELECT count(*), coalesce(sum(length(payload) + length(topic) + "
                  "length(device_id) + 32), 0) FROM records WHERE seq <= ?1");
  st.bind(1, static_cast<std::int64_t>(through));
  if (st.step() != SQLITE_ROW) return 0;
  const auto n = static_cast<std::uint64_t>(st.int64(0));
  const auto bytes = static_cast<std::uint64_t>(st.int64(1));
  if (n == 0) return 0;
  sqlite::StmtScope scope(delete_);
  delete_.bind(1, static_cast<std::int64_t>(through));
  if ((w.rc = delete_.step()) != SQLITE_DONE) return 0;
  w.dropped[static_cast<int>(reason)] += n;
  w.dropped_records += n;
  w.dropped_bytes += bytes;
  return n;
}

bool SqliteBuffer::enforce_bounds(Work& w, std::uint64_t* freed) {
  // Expiry: the oldest records (seq order ~ receive order) older than max_age.
  const auto scan_prefix = [&](auto&& keep_going) -> std::uint64_t {
    std::uint64_t cursor = 0, last = 0;
    for (bool more = true; more;) {
      more = false;
      sqlite::StmtScope scope(oldest_);
      oldest_.bind(1, static_cast<std::int64_t>(cursor));
      int rc;
      while ((rc = oldest_.step()) == SQLITE_ROW) {
        cursor = static_cast<std::uint64_t>(oldest_.int64(0));
        if (!keep_going(oldest_.int64(1), static_cast<std::uint64_t>(oldest_.int64(2))))
          return last;
        last = cursor;
        more = true;
      }
      if (rc != SQLITE_DONE) return last;
    }
    return last;
  };
  if (w.expire) {
    const std::int64_t cutoff =
        now_ns() - std::chrono::duration_cast<std::chrono::nanoseconds>(opts_.max_age).count();
    if (auto last = scan_prefix([&](std::int64_t ns, std::uint64_t) { return ns < cutoff; })) {
      drop_prefix(last, DropReason::kExpired, w);
      if (w.rc != SQLITE_DONE && w.rc != SQLITE_OK) return false;
    }
  }
  if ((w.emergency_drop_records > 0 || w.space_drop_bytes > 0) && w.added_bytes == 0) {
    // Disk full under drop-oldest: make room before inserting (called before the inserts), by
    // count after SQLITE_FULL, by bytes when the file system runs low.
    std::uint64_t n = 0, sum = 0;
    if (auto last = scan_prefix([&](std::int64_t, std::uint64_t cost) {
          if (w.emergency_drop_records > 0) return n++ < w.emergency_drop_records;
          if (sum >= w.space_drop_bytes) return false;
          sum += cost;
          return true;
        })) {
      drop_prefix(last, DropReason::kDiskFull, w);
      if (w.rc != SQLITE_DONE && w.rc != SQLITE_OK) return false;
    }
    return true;
  }
  const std::uint64_t stored = stored_bytes_.load() + w.added_bytes - *freed - w.dropped_bytes;
  if (opts_.max_bytes > 0 && opts_.full_policy == FullPolicy::kDropOldest &&
      stored > opts_.max_bytes) {
    const std::uint64_t excess = stored - opts_.max_bytes;
    std::uint64_t sum = 0;
    auto last = scan_prefix([&](std::int64_t, std::uint64_t cost) {
      if (sum >= excess) return false;
      sum += cost;
      return true;
    });
    if (last) {
      drop_prefix(last, DropReason::kOldest, w);
      if (w.rc != SQLITE_DONE && w.rc != SQLITE_OK) return false;
    }
  }
  return true;
}

std::int64_t SqliteBuffer::usable_disk_bytes() {
  const std::int64_t free = free_disk_bytes(opts_.path);
  if (free < 0) return -1;
  // What the file system will have to hold besides today's files: the pages committed to the
  // WAL beyond the database file's end (written there at the next checkpoint), and the WAL
  // growing to its usual size (auto-checkpoint at 1000 pages plus one large transaction).
  std::error_code ec;
  const auto file = std::filesystem::file_size(opts_.path, ec);
  const auto db_file = ec ? 0 : static_cast<std::int64_t>(file);
  const auto wal_file = std::filesystem::file_size(opts_.path + "-wal", ec);
  const auto wal = ec ? 0 : static_cast<std::int64_t>(wal_file);
  const auto page = static_cast<std::int64_t>(page_size_);
  const auto logical = static_cast<std::int64_t>(scalar_u64(wdb_, "PRAGMA page_count")) * page;
  const std::int64_t wal_usual = 1100 * (page + 24);
  return free - std::max<std::int64_t>(0, logical - db_file) -
         std::max<std::int64_t>(0, wal_usual - wal);
}

bool SqliteBuffer::plan_space(Work& w) {
  if (free_disk_bytes(opts_.path) < 0) return true;  // unknown: SQLITE_FULL still tells
  const std::int64_t free = std::max<std::int64_t>(usable_disk_bytes(), 0);
  w.low_space = free >= 0 && static_cast<std::uint64_t>(free) < low_water_;
  if (!w.low_space) return true;
  // Inserts that fit in free pages do not grow the file (nor, at the checkpoint, the disk).
  std::uint64_t bytes = 0;
  for (const auto& m : w.batch)
    bytes += record_cost(m.payload.size(), m.topic.size(), m.device_id.size());
  const std::uint64_t need_pages = bytes / page_size_ * 5 / 4 + 8;
  const std::uint64_t free_pages = scalar_u64(wdb_, "PRAGMA freelist_count");
  // Room = free space + free pages; the disk-full state ends at twice the low-water mark (no
  // flapping while drop-oldest frees just enough pages for each batch).
  w.low_space = static_cast<std::uint64_t>(free) + free_pages * page_size_ < 2 * low_water_;
  if (free_pages >= need_pages) return true;
  if (!disk_full_.exchange(true)) {
    spdlog::error("buffer: DISK FULL on {}: {} bytes free, below {}; {}", opts_.path, free,
                  low_water_,
                  opts_.full_policy == FullPolicy::kBlock
                      ? "holding back MQTT (the broker keeps the messages) until space frees"
                      : "dropping the oldest records (counted as disk_full) to make room");
  }
  if (opts_.full_policy == FullPolicy::kBlock) return false;
  w.space_drop_bytes = (need_pages - free_pages) * page_size_;
  const auto now = std::chrono::steady_clock::now();
  if (!reserve_.held() && opts_.disk_reserve_bytes > 0 && now >= next_vacuum_) {
    // Give pages back to the file system until the reserve fits again: at most 64 pages every
    // 2 s (a checkpoint right after the commit applies it), so this never empties the buffer.
    next_vacuum_ = now + std::chrono::seconds(2);
    const auto want = low_water_ + opts_.disk_reserve_bytes - static_cast<std::uint64_t>(free);
    w.vacuum_pages = std::min<std::uint64_t>(want / page_size_ + 1, 64);
    w.space_drop_bytes += w.vacuum_pages * page_size_;
  }
  return true;
}

void SqliteBuffer::refresh_accounting() {
  std::lock_guard wl(wmu_);
  sqlite::Stmt st(wdb_,
                  "SELECT count(*), coalesce(sum(length(payload) + length(topic) + "
                  "length(device_id) + 32), 0) FROM records");
  if (st.step() == SQLITE_ROW) {
    stored_records_ = static_cast<std::uint64_t>(st.int64(0));
    stored_bytes_ = static_cast<std::uint64_t>(st.int64(1));
  }
  sqlite::Stmt o(wdb_, "SELECT received_ns FROM records ORDER BY seq LIMIT 1");
  oldest_ns_ = o.step() == SQLITE_ROW ? o.int64(0) : 0;
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
  if (!ec && wal > (16u << 20)) wdb_.try_exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

}  // namespace edgesync::agent
