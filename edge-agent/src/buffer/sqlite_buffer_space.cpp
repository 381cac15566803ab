// SqliteBuffer: the disk-full state. Watching the usable space before each commit, planning the
// drop (drop-oldest) or the wait (block), the reserve, and noticing that space came back.
#include <spdlog/spdlog.h>

#include <filesystem>

#include "buffer/disk_reserve.hpp"
#include "buffer/sqlite_buffer.hpp"
#include "buffer/sqlite_buffer_internal.hpp"

namespace edgesync::agent {

using namespace sqlite_buffer_detail;

void SqliteBuffer::note_disk_full() {
  emergency_ = true;
  if (!disk_full_.exchange(true)) {
    spdlog::error("buffer: DISK FULL on {}: {}", opts_.path,
                  opts_.full_policy == FullPolicy::kBlock
                      ? "holding back MQTT (the broker keeps the messages) until space frees"
                      : "dropping the oldest records (counted as disk_full) to go on");
  }
  reserve_.release();
}

void SqliteBuffer::check_space_returned() {
  using clock = std::chrono::steady_clock;
  static constexpr auto kEvery = std::chrono::seconds(2);
  const auto now = clock::now();
  if (now < next_space_check_) return;
  next_space_check_ = now + kEvery;
  std::lock_guard wl(wmu_);
  if (disk_full_) {
    // Hand the pages acks and drops freed back to the file system now: an idle buffer writes
    // nothing that would checkpoint the vacuum, and free pages alone may fall short of the
    // exit mark on a small disk while the file system stays full. Checkpoint even with an empty
    // free list: maintenance may have vacuumed them already, leaving the shrink in the WAL.
    if (scalar_u64(wdb_, "PRAGMA freelist_count") > 0) wdb_.try_exec("PRAGMA incremental_vacuum");
    wdb_.try_exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  const std::int64_t free = usable_disk_bytes();
  const auto room = static_cast<std::uint64_t>(std::max<std::int64_t>(free, 0)) +
                    scalar_u64(wdb_, "PRAGMA freelist_count") * page_size_;
  if (disk_full_ && opts_.max_page_count == 0 && free >= 0 && room >= 2 * low_water_) {
    bool idle;
    {
      std::lock_guard lk(mu_);
      idle = pending_.empty();
    }
    // With a batch queued, its next commit tells; with nothing queued, the room does (free
    // space + free pages, at twice the low-water mark like a commit).
    if (idle) {
      disk_full_ = false;
      spdlog::info("buffer: disk space is back on {} ({} bytes free)", opts_.path, free);
    }
  }
  if (!disk_full_ && free >= static_cast<std::int64_t>(2 * opts_.disk_reserve_bytes)) {
    reserve_.restore();
  }
}

std::int64_t SqliteBuffer::usable_disk_bytes() {
  const std::int64_t free = free_disk_bytes(opts_.path);
  if (free < 0) return -1;
  // What the file system will have to hold besides today's files: the pages committed to the
  // WAL beyond the database file's end (written there at the next checkpoint), and the WAL
  // growing to its usual size (auto-checkpoint at kWalCheckpointPages plus one large transaction).
  std::error_code ec;
  const auto file = std::filesystem::file_size(opts_.path, ec);
  const auto db_file = ec ? 0 : static_cast<std::int64_t>(file);
  const auto wal_file = std::filesystem::file_size(opts_.path + "-wal", ec);
  const auto wal = ec ? 0 : static_cast<std::int64_t>(wal_file);
  const auto page = static_cast<std::int64_t>(page_size_);
  const auto logical = static_cast<std::int64_t>(scalar_u64(wdb_, "PRAGMA page_count")) * page;
  const std::int64_t wal_usual = (kWalCheckpointPages + 100) * (page + 24);
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

}  // namespace edgesync::agent
