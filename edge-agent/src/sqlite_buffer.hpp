// The durable buffer: SQLite in WAL mode, one writer thread doing group commits.
//
// append() hands a message to the writer; the writer takes everything queued, gives each message
// the next sequence number and commits them in ONE transaction (inserts, pending ack deletes and
// the persisted sequence high-water mark together). So seq assignment and storage are atomic, and
// the commit rate adapts to load: under light load every message commits alone, under heavy load
// batches grow. `commit_window` bounds how many messages may be accepted but not yet committed:
// with 0, append() returns only after its own commit.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "buffer.hpp"
#include "sqlite.hpp"

namespace edgesync::agent {

struct SqliteBufferOptions {
  std::string path;
  bool synchronous_full = true;       // PRAGMA synchronous=FULL (fsync per commit) or NORMAL
  std::size_t commit_window = 256;    // max messages accepted but not yet committed
  std::size_t max_commit_batch = 2000;
};

class SqliteBuffer final : public Buffer {
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
  BufferStats stats() override;

 private:
  void writer_loop();
  bool commit(std::vector<IncomingMessage>& batch, std::uint64_t ack);

  SqliteBufferOptions opts_;
  std::mutex wmu_;  // guards the writer connection
  sqlite::Db wdb_;
  sqlite::Stmt insert_, delete_, set_next_;
  std::mutex rmu_;  // guards the reader connection
  sqlite::Db rdb_;
  sqlite::Stmt select_, min_seq_;

  std::mutex mu_;  // guards the queue state below
  std::condition_variable work_cv_, committed_cv_;
  std::vector<IncomingMessage> pending_;
  std::uint64_t appended_ = 0, committed_ = 0;  // append tickets
  std::uint64_t requested_ack_ = 0, applied_ack_ = 0;
  std::uint64_t committed_seq_ = 0;  // highest committed seq
  bool stopping_ = false, writer_done_ = false;

  std::atomic<std::uint64_t> next_seq_{1};
  std::atomic<std::uint64_t> committed_total_{0}, acked_total_{0}, commit_errors_{0};
  std::thread writer_;
};

}  // namespace edgesync::agent
