// The durable buffer: SQLite in WAL mode, one writer thread doing group commits.
//
// append() hands a message to the writer; the writer takes everything queued, gives each message
// the next sequence number and commits them in ONE transaction (inserts, pending ack deletes,
// bound enforcement, drop counters and the sequence high-water mark together). So seq assignment
// and storage are atomic, and the commit rate adapts to load. `commit_window` bounds how many
// messages may be accepted but not yet committed: with 0, append() returns after its own commit.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "buffer/buffer.hpp"
#include "buffer/buffer_options.hpp"
#include "buffer/buffer_store.hpp"
#include "buffer/record_cost.hpp"
#include "buffer/sqlite.hpp"

namespace edgesync::agent {

class SqliteBuffer final : public BufferWriter, public BufferReader, public BufferMonitor {
 public:
  explicit SqliteBuffer(SqliteBufferOptions opts);
  ~SqliteBuffer() override;
  SqliteBuffer(const SqliteBuffer&) = delete;
  SqliteBuffer& operator=(const SqliteBuffer&) = delete;

  // Commits what is queued, then rejects further appends. Idempotent.
  void stop();

  AppendStatus append(IncomingMessage msg) override;
  std::vector<StoredRecord> read_after(std::uint64_t after, std::size_t max_records,
                                       std::size_t max_bytes) override;
  void ack_through(std::uint64_t through) override;
  bool wait_for_records(std::uint64_t after, std::chrono::milliseconds timeout) override;
  std::uint64_t first_unacked_seq() override;
  std::uint64_t next_seq() override { return next_seq_.load(); }
  std::uint64_t next_epoch() override;
  std::string buffer_id() override { return buffer_id_; }
  bool dead_letter(std::uint64_t seq, std::string_view reason) override;
  BufferStats stats() override;
  void record_drop(DropReason reason, std::uint64_t n) override;
  void publish_state(std::vector<std::pair<std::string, std::string>> kv) override;
  const StoreOpenResult& open_result() const { return open_result_; }

 private:
  struct Work;     // what one transaction is asked to do
  struct Changes;  // what it did (filled by commit()'s steps)
  // ok, or the SQLite code the transaction failed with (SQLITE_OK when a full disk holds the
  // batch back under "block": nothing failed, the batch waits).
  struct CommitResult {
    bool ok = false;
    int rc = SQLITE_OK;
  };
  void writer_loop();
  CommitResult commit(Work& w);  // sqlite_buffer_commit.cpp, with its steps:
  CommitResult rollback(const Work& w, const char* what, int rc);  // logs, counts, rolls back
  int insert_batch(const Work& w, Changes& c);
  int delete_acked(std::uint64_t through, Changes& c);
  int write_drop_counters(const Work& w, const Changes& c);
  int write_state(const Work& w);
  void apply_committed(const Work& w, const Changes& c);  // the in-memory figures
  void finish(Work& w, bool ok, int& failures);
  void fail_for_good(int rc);      // writes are failing for good: stop storing, keep the queue
  void store_rescued();            // at open: commit what the last run's rescue file holds
  void note_disk_full();           // under wmu_: flag the state, release the disk reserve
  void check_space_returned();     // writer: clear the state / restore the reserve
  bool persist_epoch_if_needed();  // under wmu_, inside the writer's transaction
  // Dead letters are bounded by dead_letter_limit() bytes (oldest deleted first, counted in
  // meta dead_letter_evicted): a hub refusing everything cannot fill the disk with them.
  std::uint64_t dead_letter_limit() const;
  int evict_dead_letters(std::uint64_t* evicted);  // under wmu_, in the dead-letter transaction
  // The bounds (sqlite_buffer_bounds.cpp), inside commit()'s transaction; each returns an
  // SQLite code and counts its drops in `c`.
  int expire_old(Changes& c);                // buffer.max_age
  int make_room(const Work& w, Changes& c);  // disk full under drop-oldest (plan_space)
  int drop_over_max_bytes(Changes& c);       // buffer.max_bytes under drop-oldest
  // The highest seq of the oldest records for which keep_going(received_ns, cost) holds, in
  // seq order (0: none).
  std::uint64_t scan_prefix(
      const std::function<bool(std::int64_t received_ns, std::uint64_t cost)>& keep_going);
  // Under wmu_ in a transaction with a batch: when the file system is low (below low_water_)
  // and the free pages cannot hold the batch, enters the disk-full state and plans a drop
  // (drop-oldest) or returns false (block: the batch waits).
  bool plan_space(Work& w);
  // Free bytes on the buffer's file system minus what the WAL and the next checkpoint will
  // still take (under wmu_); -1 when unknown.
  std::int64_t usable_disk_bytes();
  // Records with seq <= through and their record_cost() total (under wmu_).
  struct PrefixCost {
    std::uint64_t records = 0, bytes = 0;
  };
  PrefixCost prefix_cost(std::uint64_t through);
  int drop_prefix(std::uint64_t max_seq_inclusive, DropReason reason, Changes& c);
  void maintenance();
  void refresh_accounting();
  bool space_for_more() const;  // under mu_

  SqliteBufferOptions opts_;
  StoreOpenResult open_result_;
  DiskReserve reserve_;  // before wdb_: opening on a full disk may need it
  std::mutex wmu_;       // guards the writer connection, reserve_ and the epoch below
  sqlite::Db wdb_;
  sqlite::Stmt insert_, delete_, set_next_, add_counter_, set_state_, oldest_;
  SeqFloor floor_;
  std::string buffer_id_;
  std::uint64_t page_size_ = 4096;
  std::uint64_t low_water_ = 1u << 20;    // max(disk_reserve_bytes, 1 MiB)
  std::uint64_t epoch_ = 0;               // last epoch handed out (under wmu_)
  std::atomic<bool> epoch_dirty_{false};  // epoch_ not yet persisted (disk full)
  std::mutex rmu_;                        // guards the reader connection
  sqlite::Db rdb_;
  sqlite::Stmt select_, min_seq_;

  std::mutex mu_;  // guards the queue state below
  std::condition_variable work_cv_, committed_cv_;
  std::vector<IncomingMessage> pending_;
  std::vector<std::pair<std::string, std::string>> pending_state_;
  std::uint64_t pending_drops_[kDropReasons] = {};
  std::uint64_t appended_ = 0, committed_ = 0;  // append tickets
  std::uint64_t requested_ack_ = 0, applied_ack_ = 0;
  std::uint64_t committed_seq_ = 0;  // highest committed seq
  bool stopping_ = false, writer_done_ = false;
  std::string failure_;                // set once when the file failed for good (fail_for_good)
  std::uint64_t rescued_through_ = 0;  // append tickets kept in the rescue file
  bool gathering_ = false;             // the writer waits out commit_delay
  std::size_t gather_full_ = std::min(opts_.commit_window, opts_.max_commit_batch);

  std::atomic<std::uint64_t> next_seq_{1};
  std::atomic<std::uint64_t> stored_records_{0}, stored_bytes_{0};
  std::atomic<std::int64_t> oldest_ns_{0};
  std::atomic<std::uint64_t> committed_total_{0}, acked_total_{0}, commit_errors_{0}, commits_{0};
  std::atomic<std::uint64_t> dropped_[kDropReasons] = {};
  std::atomic<std::uint64_t> quarantined_{0};
  std::atomic<std::uint64_t> purged_{0};  // by the field CLI: read back by refresh_accounting()
  std::atomic<bool> disk_full_{false};
  std::atomic<std::uint64_t> dead_lettered_{0}, dead_letter_rows_{0};
  std::chrono::steady_clock::time_point next_space_check_{};  // writer thread only
  std::chrono::steady_clock::time_point next_drop_log_{};     // under wmu_
  std::chrono::steady_clock::time_point next_vacuum_{};       // under wmu_
  std::uint64_t unlogged_drops_[kDropReasons] = {};           // under wmu_
  std::atomic<bool> emergency_{false};  // SQLITE_FULL seen: drop a tenth (drop-oldest)
  std::jthread writer_;
};

}  // namespace edgesync::agent
