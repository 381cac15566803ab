// Per-stream bookkeeping from Kafka delivery reports to cumulative acks, by batch.
//
// Batches are added in seq order as they are produced; their records resolve in any order
// (partitions are independent). A record is resolved when Kafka confirmed it, or when it was put
// aside for a permanent reason (dead-letter topic or handed back to the agent). durable_through()
// is the last seq of the longest prefix of fully resolved batches; acked_batch() the agent's id
// of that last batch. Not thread-safe: the stream's lock guards it.
#pragma once

#include <cstdint>
#include <deque>

namespace edgesync::hub {

class AckTracker {
 public:
  explicit AckTracker(std::uint64_t durable_through) : durable_(durable_through) {}

  // Registers the next batch: its id as the agent sent it, its highest seq, and how many of its
  // records wait for a report (0: resolved as soon as every batch before it is). Returns the
  // batch's ordinal for resolve().
  std::uint64_t add_batch(std::uint64_t batch_id, std::uint64_t last_seq, std::size_t unresolved);
  // One record of batch `ordinal` is resolved. True when durable_through() moved.
  bool resolve(std::uint64_t ordinal);

  std::uint64_t durable_through() const { return durable_; }
  std::uint64_t acked_batch() const { return acked_batch_; }
  // Records handed to Kafka and not resolved yet.
  std::size_t unresolved() const { return unresolved_; }

 private:
  bool advance();

  struct Batch {
    std::uint64_t batch_id, last_seq;
    std::size_t unresolved;
  };
  std::deque<Batch> batches_;
  std::uint64_t front_ordinal_ = 0;  // ordinal of batches_.front()
  std::uint64_t durable_ = 0;
  std::uint64_t acked_batch_ = 0;
  std::size_t unresolved_ = 0;
};

}  // namespace edgesync::hub
