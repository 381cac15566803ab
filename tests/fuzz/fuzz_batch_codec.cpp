// libFuzzer target: the hub's packed-batch decoder (cloud-hub/src/stream/batch_codec.hpp) on any
// PackedBatch, compressed or not. Beyond "no crash and no allocation past the bounds" (ASan's
// rss limit), a decoded batch must stay within the limits the decoder promises.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "batch_codec.hpp"
#include "edgesync/v1/sync.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edgesync;
  v1::PackedBatch packed;
  if (!packed.ParseFromArray(data, static_cast<int>(size))) return 0;
  hub::PackedLimits limits;
  limits.max_records = 200;
  limits.max_bytes = 1 << 16;
  v1::Batch out;
  if (hub::decode_packed_batch(packed, limits, hub::decode_scratch(), out)) return 0;
  std::size_t bytes = 0;
  for (const auto& r : out.records()) {
    bytes += r.payload().size() + r.device_id().size() + r.mqtt_topic().size();
  }
  if (static_cast<std::size_t>(out.records_size()) > limits.max_records ||
      bytes > limits.max_bytes) {
    std::abort();
  }
  return 0;
}
