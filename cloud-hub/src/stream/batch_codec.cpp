#include "batch_codec.hpp"

#include <limits>
#include <new>

namespace edgesync::hub {
namespace {

// A protobuf wire-format reader over bytes already in memory: no allocation, every length
// checked against what is left. (The generated parser would allocate an object per record and per
// unknown field before we could count them.)
struct Wire {
  const unsigned char* p;
  const unsigned char* end;

  explicit Wire(std::string_view s)
      : p(reinterpret_cast<const unsigned char*>(s.data())), end(p + s.size()) {}
  bool done() const { return p == end; }

  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p == end) return false;
      const std::uint64_t b = *p++;
      if (shift == 63 && b > 1) return false;  // more than 64 bits
      v |= (b & 0x7F) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  bool bytes(std::string_view& s) {
    std::uint64_t n = 0;
    if (!varint(n) || n > static_cast<std::uint64_t>(end - p)) return false;
    s = std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    p += n;
    return true;
  }
  bool tag(std::uint32_t& field, std::uint32_t& type) {
    std::uint64_t t = 0;
    if (!varint(t) || (t >> 3) == 0 || (t >> 3) > std::numeric_limits<std::uint32_t>::max()) {
      return false;
    }
    field = static_cast<std::uint32_t>(t >> 3);
    type = static_cast<std::uint32_t>(t & 7);
    return true;
  }
  // Unknown fields are skipped (a newer agent may add some); groups are refused.
  bool skip(std::uint32_t type) {
    std::uint64_t v = 0;
    std::string_view s;
    switch (type) {
      case 0:
        return varint(v);
      case 1:
        if (end - p < 8) return false;
        p += 8;
        return true;
      case 2:
        return bytes(s);
      case 5:
        if (end - p < 4) return false;
        p += 4;
        return true;
      default:
        return false;
    }
  }
};

constexpr std::uint32_t kVarint = 0, kLen = 2;

Violation malformed(const std::string& field, const std::string& what) {
  return Violation{field, what};
}

std::string n(std::uint64_t v) {
  return std::to_string(v);
}

// Points `body` at the decoded BatchBody bytes (p.body() itself or the scratch buffer).
std::optional<Violation> decompress(const v1::PackedBatch& p, DecodeScratch& scratch,
                                    std::string_view& body) {
  const std::string& src = p.body();
  const std::uint64_t raw = p.raw_size();
  switch (p.codec()) {
    case v1::PackedBatch::CODEC_NONE:
      if (src.size() != raw) {
        return Violation{"packed_batch.raw_size", n(raw) + " differs from the body's " +
                                                      n(src.size()) + " bytes (codec NONE)"};
      }
      body = src;
      return std::nullopt;
    case v1::PackedBatch::CODEC_ZSTD: {
      const unsigned long long content = ZSTD_getFrameContentSize(src.data(), src.size());
      if (content == ZSTD_CONTENTSIZE_ERROR) {
        return Violation{"packed_batch.body", "is not a zstd frame (or its header is cut short)"};
      }
      if (content == ZSTD_CONTENTSIZE_UNKNOWN) {
        return Violation{"packed_batch.body", "is a zstd frame without a content size"};
      }
      if (content != raw) {
        return Violation{"packed_batch.raw_size",
                         n(raw) + " differs from the zstd frame's content size " + n(content)};
      }
      const std::size_t frame = ZSTD_findFrameCompressedSize(src.data(), src.size());
      if (ZSTD_isError(frame)) {
        return Violation{"packed_batch.body", std::string("is a truncated zstd frame (") +
                                                  ZSTD_getErrorName(frame) + ")"};
      }
      if (frame != src.size()) {
        return Violation{"packed_batch.body",
                         n(src.size() - frame) + " bytes follow the zstd frame (one frame only)"};
      }
      // raw is bounded by the caller (max_bytes + overhead x records) before this allocation.
      scratch.body.resize(static_cast<std::size_t>(raw));
      const std::size_t got = ZSTD_decompressDCtx(scratch.dctx(), scratch.body.data(),
                                                  scratch.body.size(), src.data(), src.size());
      if (ZSTD_isError(got)) {
        return Violation{"packed_batch.body",
                         std::string("does not decompress (zstd: ") + ZSTD_getErrorName(got) + ")"};
      }
      if (got != raw) {
        return Violation{"packed_batch.body",
                         "decompressed to " + n(got) + " bytes, raw_size says " + n(raw)};
      }
      body = std::string_view(scratch.body.data(), static_cast<std::size_t>(raw));
      return std::nullopt;
    }
    default:
      return Violation{"packed_batch.codec",
                       n(static_cast<std::uint64_t>(p.codec())) + " is not a codec this hub knows"};
  }
}

// Pass 1: the tables (views into the body) and the record count, without allocating beyond
// `records` table entries.
std::optional<Violation> scan(std::string_view body, std::uint64_t records,
                              DecodeScratch& scratch) {
  scratch.devices.clear();
  scratch.topics.clear();
  std::uint64_t count = 0;
  Wire w(body);
  while (!w.done()) {
    std::uint32_t field = 0, type = 0;
    if (!w.tag(field, type)) return malformed("packed_batch.body", "is not a valid BatchBody");
    if (field >= 1 && field <= 3) {
      std::string_view s;
      if (type != kLen || !w.bytes(s)) {
        return malformed("packed_batch.body", "is not a valid BatchBody (field " + n(field) + ")");
      }
      if (field == 3) {
        if (++count > records) {
          return Violation{"packed_batch.records",
                           n(records) + " is less than the records in the body"};
        }
        continue;
      }
      auto& table = field == 1 ? scratch.devices : scratch.topics;
      if (table.size() >= records) {
        return Violation{field == 1 ? "packed_batch.body.devices" : "packed_batch.body.topics",
                         "has more entries than the batch's " + n(records) + " records"};
      }
      table.push_back(s);
    } else if (!w.skip(type)) {
      return malformed("packed_batch.body", "is not a valid BatchBody (field " + n(field) + ")");
    }
  }
  if (count != records) {
    return Violation{"packed_batch.records",
                     n(records) + " differs from the " + n(count) + " records in the body"};
  }
  return std::nullopt;
}

struct Fields {
  std::uint64_t seq_delta = 0, device = 0, topic = 0, qos = 0, time_zz = 0;
  std::string_view payload;
};

bool parse_record(std::string_view rec, Fields& f) {
  Wire w(rec);
  while (!w.done()) {
    std::uint32_t field = 0, type = 0;
    if (!w.tag(field, type)) return false;
    bool ok = true;
    switch (field) {
      case 1:
        ok = type == kVarint && w.varint(f.seq_delta);
        break;
      case 2:
        ok = type == kVarint && w.varint(f.device);
        break;
      case 3:
        ok = type == kVarint && w.varint(f.topic);
        break;
      case 4:
        ok = type == kLen && w.bytes(f.payload);
        break;
      case 5:
        ok = type == kVarint && w.varint(f.time_zz);
        break;
      case 6:
        ok = type == kVarint && w.varint(f.qos);
        break;
      default:
        ok = w.skip(type);
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace

DecodeScratch::DecodeScratch() : dctx_(ZSTD_createDCtx()) {
  if (dctx_ == nullptr) throw std::bad_alloc();
}

DecodeScratch::~DecodeScratch() {
  ZSTD_freeDCtx(dctx_);
}

DecodeScratch& decode_scratch() {
  thread_local DecodeScratch s;
  return s;
}

std::optional<Violation> decode_packed_batch(const v1::PackedBatch& p, const PackedLimits& limits,
                                             DecodeScratch& scratch, v1::Batch& out) {
  const std::uint64_t records = p.records();
  if (records == 0) return Violation{"packed_batch.records", "is 0"};
  if (records > limits.max_records) {
    return Violation{
        "packed_batch.records",
        n(records) + " records, more than hub.max_batch_records " + n(limits.max_records)};
  }
  const std::uint64_t bound = limits.max_bytes + kPackedRecordOverhead * records;
  if (p.raw_size() > bound) {
    return Violation{"packed_batch.raw_size", n(p.raw_size()) + " bytes, more than " + n(bound) +
                                                  " (hub.max_batch_bytes + " +
                                                  n(kPackedRecordOverhead) + " per record)"};
  }
  std::string_view body;
  if (auto v = decompress(p, scratch, body)) return v;
  if (auto v = scan(body, records, scratch)) return v;

  out.Clear();
  out.set_batch_id(p.batch_id());
  out.mutable_records()->Reserve(static_cast<int>(records));
  std::uint64_t seq = 0, expanded = 0, i = 0;
  std::int64_t t = 0;
  const auto at = [&i](const char* f) {
    return "packed_batch.body.records[" + n(i) + "]" + (*f ? std::string(".") + f : "");
  };
  Wire w(body);
  while (!w.done()) {
    std::uint32_t field = 0, type = 0;
    std::string_view rec;
    (void)w.tag(field, type);  // scan() walked these bytes already
    if (field != 3) {
      (void)w.skip(type);
      continue;
    }
    (void)w.bytes(rec);
    Fields f;
    if (!parse_record(rec, f)) return malformed(at(""), "is not a valid PackedRecord");
    if (f.seq_delta == 0) return Violation{at("seq_delta"), "is 0 (seqs strictly increase)"};
    if (f.seq_delta > std::numeric_limits<std::uint64_t>::max() - seq) {
      return Violation{at("seq_delta"), n(f.seq_delta) + " after seq " + n(seq) + " overflows"};
    }
    seq += f.seq_delta;
    if (f.device >= scratch.devices.size()) {
      return Violation{at("device"), "index " + n(f.device) + ", the batch has " +
                                         n(scratch.devices.size()) + " device ids"};
    }
    if (f.topic >= scratch.topics.size()) {
      return Violation{at("topic"), "index " + n(f.topic) + ", the batch has " +
                                        n(scratch.topics.size()) + " topics"};
    }
    // zigzag (sint64)
    const auto delta = static_cast<std::int64_t>((f.time_zz >> 1) ^ (~(f.time_zz & 1) + 1));
    if (__builtin_add_overflow(t, delta, &t)) {
      return Violation{at("received_delta_ns"), "overflows an int64"};
    }
    const std::string_view dev = scratch.devices[static_cast<std::size_t>(f.device)];
    const std::string_view topic = scratch.topics[static_cast<std::size_t>(f.topic)];
    expanded += f.payload.size() + dev.size() + topic.size();
    if (expanded > limits.max_bytes) {
      return Violation{"packed_batch.body",
                       "expands to more than hub.max_batch_bytes " + n(limits.max_bytes) +
                           " (payload + device id + topic per record) by record " + n(i)};
    }
    auto* r = out.add_records();
    r->set_seq(seq);
    r->set_device_id(dev.data(), dev.size());
    r->set_mqtt_topic(topic.data(), topic.size());
    r->set_payload(f.payload.data(), f.payload.size());
    r->set_received_unix_ns(t);
    r->set_qos(static_cast<std::uint32_t>(f.qos));
    ++i;
  }
  return std::nullopt;
}

}  // namespace edgesync::hub
