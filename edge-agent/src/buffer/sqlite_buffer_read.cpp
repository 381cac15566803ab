// SqliteBuffer: the reader side (its own read-only connection): records for the uplink, stats.
#include <spdlog/spdlog.h>

#include "buffer/record_row.hpp"
#include "buffer/sqlite_buffer.hpp"
#include "buffer/sqlite_buffer_internal.hpp"

namespace edgesync::agent {

using namespace sqlite_buffer_detail;

std::vector<StoredRecord> SqliteBuffer::read_after(std::uint64_t after, std::size_t max_records,
                                                   std::size_t max_bytes) {
  std::vector<StoredRecord> out;
  std::lock_guard lk(rmu_);
  sqlite::StmtScope scope(select_);
  select_.bind(1, static_cast<std::int64_t>(after));
  select_.bind(2, static_cast<std::int64_t>(max_records));
  std::size_t bytes = 0;
  int rc;
  while ((rc = select_.step()) == SQLITE_ROW) {
    StoredRecord r = record_from_row(select_);
    const std::size_t sz = record_cost(r.payload.size(), r.topic.size(), r.device_id.size());
    if (!out.empty() && bytes + sz > max_bytes) break;
    bytes += sz;
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    spdlog::warn("buffer: read failed on {}: {} (rc={}); will retry", opts_.path, rdb_.errmsg(),
                 rc);
  }
  return out;
}

std::uint64_t SqliteBuffer::first_unacked_seq() {
  std::lock_guard lk(rmu_);
  sqlite::StmtScope scope(min_seq_);
  if (min_seq_.step() != SQLITE_ROW || min_seq_.is_null(0)) return 0;
  return static_cast<std::uint64_t>(min_seq_.int64(0));
}

BufferStats SqliteBuffer::stats() {
  BufferStats s;
  s.records = stored_records_.load();
  s.stored_bytes = stored_bytes_.load();
  s.first_seq = first_unacked_seq();
  s.next_seq = next_seq_.load();
  s.oldest_received_unix_ns = oldest_ns_.load();
  s.committed_total = committed_total_.load();
  s.commits = commits_.load();
  s.acked_total = acked_total_.load();
  s.commit_errors = commit_errors_.load();
  for (std::size_t r = 0; r < kDropReasons; ++r) s.dropped[r] = dropped_[r].load();
  s.quarantined_files = quarantined_.load();
  s.purged = purged_.load();
  s.full = opts_.max_bytes > 0 && s.stored_bytes >= opts_.max_bytes;
  s.disk_full = disk_full_.load();
  {
    std::lock_guard lk(mu_);
    s.failed = !failure_.empty();
    s.failure = failure_;
  }
  s.dead_lettered = dead_lettered_.load();
  s.dead_letter_rows = dead_letter_rows_.load();
  return s;
}

}  // namespace edgesync::agent
