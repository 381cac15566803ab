#include "uplink/batch_packer.hpp"

#include <new>
#include <stdexcept>

namespace edgesync::agent {
namespace {

// Index of `s` in `table` (added when new); the map's keys view the table's own strings, which
// stay put while the batch is built.
std::uint32_t intern(const std::string& s, google::protobuf::RepeatedPtrField<std::string>& table,
                     std::unordered_map<std::string_view, std::uint32_t>& index) {
  if (auto it = index.find(s); it != index.end()) return it->second;
  const auto i = static_cast<std::uint32_t>(table.size());
  std::string* kept = table.Add();
  *kept = s;
  index.emplace(*kept, i);
  return i;
}

}  // namespace

BatchPacker::BatchPacker(int level) : cctx_(ZSTD_createCCtx()) {
  if (cctx_ == nullptr) throw std::bad_alloc();
  if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level))) {
    ZSTD_freeCCtx(cctx_);
    throw std::invalid_argument("zstd level " + std::to_string(level));
  }
  // ZSTD_compress2 writes the content size into the frame header (the hub requires it).
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_contentSizeFlag, 1);
}

BatchPacker::~BatchPacker() {
  ZSTD_freeCCtx(cctx_);
}

void BatchPacker::pack(std::uint64_t batch_id, std::vector<StoredRecord>& recs,
                       v1::PackedBatch& out) {
  body_.Clear();  // keeps the record objects and string capacity for the next batch
  devices_.clear();
  topics_.clear();
  body_.mutable_records()->Reserve(static_cast<int>(recs.size()));
  std::uint64_t seq = 0;
  std::uint64_t t = 0;  // unsigned: the delta wraps the same way the hub's checked sum unwraps
  for (auto& r : recs) {
    auto* p = body_.add_records();
    p->set_seq_delta(r.seq - seq);
    p->set_device(intern(r.device_id, *body_.mutable_devices(), devices_));
    p->set_topic(intern(r.topic, *body_.mutable_topics(), topics_));
    p->set_payload(std::move(r.payload));
    const auto now = static_cast<std::uint64_t>(r.received_unix_ns);
    p->set_received_delta_ns(static_cast<std::int64_t>(now - t));
    p->set_qos(static_cast<std::uint32_t>(r.qos));
    seq = r.seq;
    t = now;
  }
  raw_.clear();
  body_.SerializeToString(&raw_);
  out.set_batch_id(batch_id);
  out.set_raw_size(raw_.size());
  out.set_records(static_cast<std::uint32_t>(recs.size()));
  packed_.resize(ZSTD_compressBound(raw_.size()));
  const std::size_t n =
      ZSTD_compress2(cctx_, packed_.data(), packed_.size(), raw_.data(), raw_.size());
  if (!ZSTD_isError(n) && n < raw_.size()) {
    out.set_codec(v1::PackedBatch::CODEC_ZSTD);
    out.set_body(packed_.data(), n);
  } else {
    out.set_codec(v1::PackedBatch::CODEC_NONE);
    out.set_body(raw_);
  }
}

}  // namespace edgesync::agent
