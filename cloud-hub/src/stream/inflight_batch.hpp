// A batch whose records Kafka has not all confirmed yet. It owns the parsed message (its arena:
// the payload bytes librdkafka points at), one DeliverySlot per produced record (no allocation
// per record), and a reference to its stream; it deletes itself after the last report.
#pragma once

#include <google/protobuf/arena.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "edgesync/v1/sync.pb.h"
#include "sink/sink.hpp"

namespace edgesync::hub {

class StreamReactor;

class InflightBatch final : public DeliveryListener {
 public:
  InflightBatch(std::shared_ptr<StreamReactor> stream,
                std::unique_ptr<google::protobuf::Arena> arena, const v1::Batch& batch,
                std::size_t bytes)
      : stream_(std::move(stream)), arena_(std::move(arena)), batch_(batch), bytes_(bytes) {}

  const v1::Batch& batch() const { return batch_; }
  std::size_t bytes() const { return bytes_; }
  std::uint64_t ordinal = 0;
  std::chrono::steady_clock::time_point produced_at = std::chrono::steady_clock::now();
  // Slots of the records handed to Kafka; reserved up front, never reallocated after a produce.
  std::vector<DeliverySlot> slots;

  // The producing side holds one reference while it hands records to Kafka, each produced
  // record one more; the last release() runs the stream's on_batch_done and deletes the batch.
  void retain() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release();

  void on_delivery(DeliverySlot& slot, const DeliveryResult& result) override;

 private:
  std::shared_ptr<StreamReactor> stream_;
  std::unique_ptr<google::protobuf::Arena> arena_;
  const v1::Batch& batch_;
  std::size_t bytes_;
  std::atomic<std::size_t> refs_{0};
};

}  // namespace edgesync::hub
