// Records -> PackedBatch (FEATURE_PACKED_ZSTD, proto/edgesync/v1/sync.proto): each distinct device
// id and topic once per batch, seq and receive time as deltas, the body compressed with zstd in
// one frame with its content size. One packer per uplink: its zstd context and buffers are reused
// from batch to batch.
#pragma once

#include <zstd.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "edgesync/v1/sync.pb.h"
#include "record.hpp"

namespace edgesync::agent {

class BatchPacker {
 public:
  explicit BatchPacker(int level);
  ~BatchPacker();
  BatchPacker(const BatchPacker&) = delete;
  BatchPacker& operator=(const BatchPacker&) = delete;

  // Fills `out` from `recs` (sorted by seq; their payloads are moved out). A body zstd cannot
  // shrink goes as it is (CODEC_NONE).
  void pack(std::uint64_t batch_id, std::vector<StoredRecord>& recs, v1::PackedBatch& out);

 private:
  ZSTD_CCtx* cctx_;
  v1::BatchBody body_;
  std::string raw_, packed_;
  std::unordered_map<std::string_view, std::uint32_t> devices_, topics_;
};

}  // namespace edgesync::agent
