// What the uplink counts (exported by the agent's monitor).
#pragma once

#include <atomic>
#include <cstdint>

namespace edgesync::agent {

struct UplinkCounters {
  std::atomic<std::uint64_t> batches_sent{0};
  std::atomic<std::uint64_t> records_sent{0};
  std::atomic<std::uint64_t> acked_through{0};
  std::atomic<std::uint64_t> sessions{0};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> dead_lettered{0};   // records the hub rejected for good
  std::atomic<std::uint64_t> packed_batches{0};  // of batches_sent: sent as PackedBatch
  std::atomic<std::uint64_t> stream_bytes{0};    // serialized messages written (before gzip)
  std::atomic<bool> connected{false};
};

}  // namespace edgesync::agent
