// Per-stream bookkeeping from Kafka delivery reports to cumulative acks.
//
// Records are added in seq order as they are produced; delivery reports arrive in any order
// (partitions are independent). durable_through() is the highest seq S such that every record
// added with seq <= S was confirmed; one failed delivery freezes it for good (the stream is then
// closed and the agent resends from its first unacked record).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include "sink.hpp"

namespace edgesync::hub {

class AckTracker final : public DeliveryListener {
 public:
  // `on_durable` runs (under no lock) whenever durable_through advances, e.g. to update the
  // hub-wide dedup table.
  AckTracker(std::uint64_t durable_through, std::function<void(std::uint64_t)> on_durable);

  // Call in seq order, before producing the record.
  void add(std::uint64_t seq);
  // Marks the end of a batch: ack `batch_id` once everything up to `last_seq` is durable.
  void end_batch(std::uint64_t batch_id, std::uint64_t last_seq);
  // Records with seq <= this need not be produced (already durable or covered by an ack).
  void on_delivery(std::uint64_t seq, bool ok, std::string_view error) override;

  std::uint64_t durable_through() const;
  std::size_t pending() const;
  bool failed(std::string* why = nullptr) const;

  // Blocks until durable_through passes `seen` or the acked batch passes `seen_batch`, a
  // failure, close(), or the timeout. Returns {durable_through, highest fully durable batch id}.
  std::pair<std::uint64_t, std::uint64_t> wait_progress(std::uint64_t seen,
                                                        std::uint64_t seen_batch,
                                                        std::chrono::milliseconds timeout);
  // Blocks until pending() < limit (or failure/close/timeout); returns pending() < limit.
  bool wait_room(std::size_t limit, std::chrono::milliseconds timeout);
  void close();
  bool closed() const;

 private:
  void advance_locked();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  struct Entry {
    std::uint64_t seq;
    bool done;
  };
  std::deque<Entry> entries_;  // ascending seq, not yet below the watermark
  std::deque<std::pair<std::uint64_t, std::uint64_t>> batches_;  // (batch_id, last_seq)
  std::uint64_t durable_ = 0;
  std::uint64_t acked_batch_ = 0;
  int room_waiters_ = 0;  // threads in wait_room(): woken per delivery, the rest per batch
  std::uint64_t last_added_ = 0;
  bool failed_ = false;
  std::string failure_;
  bool closed_ = false;
  std::function<void(std::uint64_t)> on_durable_;
};

}  // namespace edgesync::hub
