// PackedBatch -> Batch (FEATURE_PACKED_ZSTD, proto/edgesync/v1/sync.proto). A pure function of
// the message, the limits and a scratch area: unit-tested without gRPC. Every number in a packed
// batch comes from the agent, so each is checked before it sizes an allocation:
//   records      1..max_records, before anything else
//   raw_size     <= max_bytes + kPackedRecordOverhead x records, before the scratch buffer grows
//   zstd frame   one frame, its header's content size known and equal to raw_size, nothing after
//                it; decompression writes into exactly raw_size bytes (never more)
//   body         walked twice without allocating: tables and record count first (entries and
//                records bounded by `records`), then the records, each expanded record adding its
//                payload + device id + topic bytes to a running total refused above max_bytes
//                before the strings are copied (a small body naming a long topic 5,000 times
//                cannot expand past the plain batch's own limit)
//   record       indexes in range, seq delta > 0 and no overflow, time delta no overflow
// What the decoded Batch then promises (order, UTF-8, lengths) is check_batch's job, as for a
// plain one.
#pragma once

#include <zstd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgesync/v1/sync.pb.h"
#include "stream_contract.hpp"

namespace edgesync::hub {

// Wire bytes a PackedRecord and its share of the tables can take beyond its payload and strings:
// submessage tag + length (6), seq_delta (11), device and topic index (6 + 6), payload tag +
// length (6), time delta (11), qos (6), one device and one topic table entry's tag + length
// (6 + 6). A body of honest records is never refused by the raw_size bound.
inline constexpr std::uint64_t kPackedRecordOverhead = 64;

struct PackedLimits {
  std::size_t max_records = 5000;
  std::size_t max_bytes = 4 << 20;
};

// Reused between batches (no allocation churn): the zstd context and the decompressed body.
// One per thread (decode_scratch()): gRPC's callback threads are few, streams can be 10,000s.
class DecodeScratch {
 public:
  DecodeScratch();
  ~DecodeScratch();
  DecodeScratch(const DecodeScratch&) = delete;
  DecodeScratch& operator=(const DecodeScratch&) = delete;

  ZSTD_DCtx* dctx() { return dctx_; }
  std::string body;
  std::vector<std::string_view> devices, topics;

 private:
  ZSTD_DCtx* dctx_;
};

// The calling thread's scratch.
DecodeScratch& decode_scratch();

// Fills `out` (normally created on the arena of the message holding `p`) with the Batch `p`
// stands for, or names what is wrong (field "packed_batch.<field>"); on a violation `out` holds
// a partial batch that must not be used.
std::optional<Violation> decode_packed_batch(const v1::PackedBatch& p, const PackedLimits& limits,
                                             DecodeScratch& scratch, v1::Batch& out);

}  // namespace edgesync::hub
