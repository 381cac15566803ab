// PackedBatch decoding (FEATURE_PACKED_ZSTD): the agent's packer against the hub's decoder, and
// every refusal, each before the hub allocates by a number the agent chose.
#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>
#include <zstd.h>

#include <limits>
#include <random>

#include "batch_codec.hpp"
#include "fake_sink.hpp"
#include "raw_client.hpp"
#include "sync_service.hpp"
#include "uplink/batch_packer.hpp"

using namespace edgesync;

namespace {

std::vector<agent::StoredRecord> records(int n, std::uint64_t first_seq = 7) {
  std::vector<agent::StoredRecord> v;
  for (int i = 0; i < n; ++i) {
    agent::StoredRecord r;
    r.seq = first_seq + static_cast<std::uint64_t>(i) * (i % 3 == 0 ? 1 : 5);  // gaps too
    if (!v.empty() && r.seq <= v.back().seq) r.seq = v.back().seq + 1;
    r.device_id = "dev-" + std::to_string(i % 4);
    r.topic = "sensors/" + r.device_id + (i % 2 ? "/temp" : "/hum");
    r.payload = R"({"d":")" + r.device_id + R"(","n":)" + std::to_string(i) + R"(,"v":21.5})";
    r.received_unix_ns = 1764000000000000000 + std::int64_t{i} * 1000003 - (i == 5 ? 5000000 : 0);
    r.qos = i % 3;
    v.push_back(r);
  }
  return v;
}

std::string zstd(const std::string& raw, bool with_size = true) {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, with_size ? 1 : 0);
  std::string out(ZSTD_compressBound(raw.size()) + 64, '\0');
  std::size_t n = 0;
  if (with_size) {
    n = ZSTD_compress2(c, out.data(), out.size(), raw.data(), raw.size());
  } else {  // streaming without a pledged size: no content size in the header
    ZSTD_outBuffer o{out.data(), out.size(), 0};
    ZSTD_inBuffer in{raw.data(), raw.size(), 0};
    ZSTD_compressStream2(c, &o, &in, ZSTD_e_end);
    n = o.pos;
  }
  ZSTD_freeCCtx(c);
  REQUIRE(!ZSTD_isError(n));
  out.resize(n);
  return out;
}

// A PackedBatch around a hand-made body.
v1::PackedBatch packed(const v1::BatchBody& body, bool compress = true) {
  v1::PackedBatch p;
  const std::string raw = body.SerializeAsString();
  p.set_batch_id(3);
  p.set_records(static_cast<std::uint32_t>(body.records_size()));
  p.set_raw_size(raw.size());
  p.set_codec(compress ? v1::PackedBatch::CODEC_ZSTD : v1::PackedBatch::CODEC_NONE);
  p.set_body(compress ? zstd(raw) : raw);
  return p;
}

v1::BatchBody simple_body(int n) {
  v1::BatchBody b;
  b.add_devices("d");
  b.add_topics("t/d/x");
  for (int i = 0; i < n; ++i) {
    auto* r = b.add_records();
    r->set_seq_delta(1);
    r->set_payload("p" + std::to_string(i));
  }
  return b;
}

std::optional<hub::Violation> decode(const v1::PackedBatch& p, v1::Batch& out,
                                     hub::PackedLimits limits = {}) {
  return hub::decode_packed_batch(p, limits, hub::decode_scratch(), out);
}

std::string field_of(const std::optional<hub::Violation>& v) {
  return v ? v->field : std::string("(none)");
}

}  // namespace

TEST_CASE("a packed batch decodes into exactly the batch it stands for") {
  agent::BatchPacker packer(1);
  for (const int n : {1, 2, 10, 500}) {
    auto recs = records(n);
    const auto want = recs;  // pack() moves the payloads out
    v1::PackedBatch p;
    packer.pack(41, recs, p);
    CHECK(p.records() == static_cast<std::uint32_t>(n));
    if (n >= 10) {
      CHECK(p.codec() == v1::PackedBatch::CODEC_ZSTD);
      CHECK(p.body().size() < p.raw_size());
    }
    google::protobuf::Arena arena;
    auto* b = google::protobuf::Arena::CreateMessage<v1::Batch>(&arena);
    REQUIRE(field_of(decode(p, *b)) == "(none)");
    CHECK(b->batch_id() == 41);
    REQUIRE(b->records_size() == n);
    for (int i = 0; i < n; ++i) {
      const auto& r = b->records(i);
      const auto& w = want[static_cast<std::size_t>(i)];
      CHECK(r.seq() == w.seq);
      CHECK(r.device_id() == w.device_id);
      CHECK(r.mqtt_topic() == w.topic);
      CHECK(r.payload() == w.payload);
      CHECK(r.received_unix_ns() == w.received_unix_ns);
      CHECK(r.qos() == static_cast<std::uint32_t>(w.qos));
    }
  }
  // The packer is reused: a second batch after a larger one carries nothing of it.
  auto recs = records(3, 1000);
  v1::PackedBatch p;
  packer.pack(42, recs, p);
  v1::Batch b;
  REQUIRE(field_of(decode(p, b)) == "(none)");
  CHECK(b.records_size() == 3);
  CHECK(b.records(0).seq() == 1000);
}

TEST_CASE("codec NONE round-trips and a body that cannot shrink is sent as is") {
  v1::Batch b;
  CHECK(field_of(decode(packed(simple_body(3), false), b)) == "(none)");
  CHECK(b.records_size() == 3);
  CHECK(b.records(2).seq() == 3);
  CHECK(b.records(2).mqtt_topic() == "t/d/x");
  agent::BatchPacker packer(1);
  std::vector<agent::StoredRecord> one(1);
  one[0].seq = 1;
  one[0].topic = "x";
  one[0].payload = "\x01\x02";
  v1::PackedBatch p;
  packer.pack(1, one, p);
  CHECK(p.codec() == v1::PackedBatch::CODEC_NONE);
  CHECK(field_of(decode(p, b)) == "(none)");
}

TEST_CASE("a huge raw_size is refused before anything is allocated") {
  auto p = packed(simple_body(2));
  p.set_raw_size(std::numeric_limits<std::uint64_t>::max());
  v1::Batch b;
  auto v = decode(p, b);
  CHECK(field_of(v) == "packed_batch.raw_size");
  CHECK(v->what.find("hub.max_batch_bytes") != std::string::npos);
  // The bound: max_bytes + 64 per record, not one byte more.
  hub::PackedLimits small{100, 1024};
  p = packed(simple_body(2));
  p.set_raw_size(1024 + 2 * hub::kPackedRecordOverhead + 1);
  CHECK(field_of(decode(p, b, small)) == "packed_batch.raw_size");
}

TEST_CASE("a decompression bomb (a small frame claiming a huge size) is refused unopened") {
  // 4 MiB of zeros compresses to a few hundred bytes; the hub's bound is 1 KiB + 64 per record.
  const std::string zeros(4u << 20, '\0');
  v1::PackedBatch p;
  p.set_records(1);
  p.set_codec(v1::PackedBatch::CODEC_ZSTD);
  p.set_body(zstd(zeros));
  CHECK(p.body().size() < 1000);
  p.set_raw_size(zeros.size());
  v1::Batch b;
  CHECK(field_of(decode(p, b, {100, 1024})) == "packed_batch.raw_size");
  // Lying low instead: raw_size within the bound, the frame's header says 4 MiB.
  p.set_raw_size(100);
  auto v = decode(p, b, {100, 1024});
  CHECK(field_of(v) == "packed_batch.raw_size");
  CHECK(v->what.find("content size 4194304") != std::string::npos);
}

TEST_CASE("a zstd frame without a content size, truncated, trailed or corrupt is refused") {
  const auto body = simple_body(5);
  const std::string raw = body.SerializeAsString();
  v1::Batch b;
  auto p = packed(body);
  p.set_body(zstd(raw, false));
  CHECK(decode(p, b)->what.find("without a content size") != std::string::npos);

  p = packed(body);
  p.set_body(p.body().substr(0, p.body().size() - 3));
  auto v = decode(p, b);
  CHECK(field_of(v) == "packed_batch.body");
  CHECK(v->what.find("truncated") != std::string::npos);

  p = packed(body);
  p.set_body(p.body() + "x");
  CHECK(decode(p, b)->what.find("follow the zstd frame") != std::string::npos);

  p = packed(body);
  std::string bad = p.body();
  bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x5A);
  bad[bad.size() / 2 + 1] = static_cast<char>(bad[bad.size() / 2 + 1] ^ 0xA5);
  p.set_body(bad);
  (void)decode(p, b);  // refused, or (flipped literals) a batch check_batch then judges: no crash

  p = packed(body);
  p.set_body("not zstd at all");
  CHECK(field_of(decode(p, b)) == "packed_batch.body");

  p = packed(body);
  p.set_codec(static_cast<v1::PackedBatch::Codec>(7));
  CHECK(field_of(decode(p, b)) == "packed_batch.codec");

  p = packed(body, false);
  p.set_raw_size(p.raw_size() + 1);
  CHECK(field_of(decode(p, b)) == "packed_batch.raw_size");
}

TEST_CASE("record counts: zero, over the hub's limit, or not what the body holds") {
  v1::Batch b;
  auto p = packed(simple_body(3));
  p.set_records(0);
  CHECK(field_of(decode(p, b)) == "packed_batch.records");
  p.set_records(6000);
  CHECK(decode(p, b)->what.find("hub.max_batch_records") != std::string::npos);
  p.set_records(2);
  CHECK(field_of(decode(p, b)) == "packed_batch.records");
  p.set_records(4);
  CHECK(field_of(decode(p, b)) == "packed_batch.records");
  // More table entries than records.
  auto body = simple_body(1);
  body.add_devices("e");
  CHECK(field_of(decode(packed(body), b)) == "packed_batch.body.devices");
}

TEST_CASE("indexes out of range are refused and named") {
  v1::Batch b;
  auto body = simple_body(3);
  body.mutable_records(2)->set_device(1);
  auto v = decode(packed(body), b);
  CHECK(field_of(v) == "packed_batch.body.records[2].device");
  CHECK(v->what == "index 1, the batch has 1 device ids");
  body = simple_body(3);
  body.mutable_records(1)->set_topic(4000000000u);
  CHECK(field_of(decode(packed(body), b)) == "packed_batch.body.records[1].topic");
  body = simple_body(2);
  body.clear_topics();
  CHECK(field_of(decode(packed(body), b)) == "packed_batch.body.records[0].topic");
}

TEST_CASE("a seq delta of 0 or one that overflows is refused, and time deltas too") {
  v1::Batch b;
  auto body = simple_body(3);
  body.mutable_records(0)->set_seq_delta(0);  // seq 0
  CHECK(field_of(decode(packed(body), b)) == "packed_batch.body.records[0].seq_delta");
  body = simple_body(3);
  body.mutable_records(2)->set_seq_delta(0);  // a repeated seq
  CHECK(field_of(decode(packed(body), b)) == "packed_batch.body.records[2].seq_delta");
  body = simple_body(3);
  body.mutable_records(1)->set_seq_delta(std::numeric_limits<std::uint64_t>::max());
  CHECK(field_of(decode(packed(body), b)) == "packed_batch.body.records[1].seq_delta");
  body = simple_body(2);
  body.mutable_records(0)->set_received_delta_ns(std::numeric_limits<std::int64_t>::max());
  body.mutable_records(1)->set_received_delta_ns(1);
  CHECK(field_of(decode(packed(body), b)) == "packed_batch.body.records[1].received_delta_ns");
}

TEST_CASE("a small body cannot expand past hub.max_batch_bytes through its tables") {
  // One 60 KiB topic named by 100 records: 6 MB expanded from a body of ~61 KB.
  v1::BatchBody body;
  body.add_devices("d");
  body.add_topics(std::string(60000, 't'));
  for (int i = 0; i < 100; ++i) {
    auto* r = body.add_records();
    r->set_seq_delta(1);
  }
  v1::Batch b;
  auto v = decode(packed(body), b, {5000, 1 << 20});
  CHECK(field_of(v) == "packed_batch.body");
  CHECK(v->what.find("expands to more than hub.max_batch_bytes") != std::string::npos);
  CHECK(b.records_size() < 20);  // stopped before copying the rest
}

TEST_CASE("garbage bodies are refused, unknown fields are skipped") {
  v1::Batch b;
  v1::PackedBatch p;
  p.set_records(1);
  p.set_codec(v1::PackedBatch::CODEC_NONE);
  for (const std::string& body :
       {std::string("\x1a\xff\xff\xff\xff\x0f", 6), std::string("\x0a", 1), std::string("\x0b", 1),
        std::string("\x08\x01", 2), std::string("\x1a\x02\x08\x80", 4),
        std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11)}) {
    p.set_body(body);
    p.set_raw_size(body.size());
    CHECK(field_of(decode(p, b)).rfind("packed_batch", 0) == 0);
  }
  // A field this hub does not know (a newer agent), in the body and in a record: skipped.
  auto body = simple_body(1);
  std::string raw = body.SerializeAsString() + std::string("\x78\x05", 2);  // field 15, varint
  p.set_body(raw);
  p.set_raw_size(raw.size());
  CHECK(field_of(decode(p, b)) == "(none)");
}

namespace {

struct PackedHub {
  PackedHub() {
    cfg.hub_id = "unit-hub";
    cfg.shutdown_grace = std::chrono::milliseconds(1000);
    service = std::make_unique<hub::SyncService>(cfg, sink);
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(service.get());
    server = b.BuildAndStart();
  }
  ~PackedHub() {
    service->begin_drain();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server.reset();
    sink.close();
  }
  // A stream welcomed for `agent`, offering FEATURE_PACKED_ZSTD or not; `listed` = the welcome's.
  std::unique_ptr<test::RawStream> open(const std::string& agent, bool offer, bool& listed) {
    auto s = std::make_unique<test::RawStream>(
        test::RawStream::channel("127.0.0.1:" + std::to_string(port)));
    auto hello = test::hello(agent, 100);
    if (offer) hello.mutable_hello()->add_features(v1::FEATURE_PACKED_ZSTD);
    REQUIRE(s->write(hello));
    auto m = s->read();
    REQUIRE(m);
    REQUIRE(m->has_welcome());
    listed = false;
    for (const int f : m->welcome().features()) listed |= f == v1::FEATURE_PACKED_ZSTD;
    return s;
  }
  hub::HubConfig cfg;
  test::FakeSink sink;
  std::unique_ptr<hub::SyncService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

v1::AgentMessage packed_message(std::uint64_t first_seq, int n) {
  agent::BatchPacker packer(1);
  auto recs = records(n, first_seq);
  v1::AgentMessage m;
  packer.pack(1, recs, *m.mutable_packed_batch());
  return m;
}

}  // namespace

TEST_CASE("the hub takes packed batches it welcomed and refuses broken ones naming the field") {
  PackedHub h;
  bool listed = false;
  auto s = h.open("packed-1", true, listed);
  CHECK(listed);
  REQUIRE(s->write(packed_message(100, 20)));  // the hello said next seq 100
  for (bool acked = false; !acked;) {
    auto m = s->read();
    REQUIRE(m);
    acked = m->has_ack() && m->ack().batch_id() == 1;
  }
  // A second batch whose record names a device the batch does not have.
  v1::BatchBody body = simple_body(2);
  body.mutable_records(0)->set_seq_delta(300);  // above the first batch's seqs
  body.mutable_records(1)->set_device(3);
  v1::AgentMessage bad;
  *bad.mutable_packed_batch() = packed(body);
  REQUIRE(s->write(bad));
  while (s->read()) {
  }
  const auto st = s->finish();
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(st.error_message().find("packed_batch.body.records[1].device") != std::string::npos);
  CHECK(h.sink.delivered().size() == 20);  // nothing of the broken batch
}

TEST_CASE("a packed batch on a stream whose welcome did not list the feature is refused") {
  PackedHub h;
  bool listed = true;
  auto s = h.open("packed-2", false, listed);
  CHECK_FALSE(listed);
  REQUIRE(s->write(packed_message(100, 5)));
  while (s->read()) {
  }
  const auto st = s->finish();
  CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(h.sink.produced_total() == 0);
}

TEST_CASE("random corruptions are refused or decode within the limits, never more") {
  // A deterministic mutation run (also run under ASan/UBSan by hand: 200,000 rounds, clean).
  agent::BatchPacker packer(1);
  auto recs = records(50, 10);
  v1::PackedBatch zstd_batch;
  packer.pack(1, recs, zstd_batch);
  v1::PackedBatch none_batch = zstd_batch;
  {
    std::string raw(zstd_batch.raw_size(), '\0');
    REQUIRE(ZSTD_decompress(raw.data(), raw.size(), zstd_batch.body().data(),
                            zstd_batch.body().size()) == raw.size());
    none_batch.set_codec(v1::PackedBatch::CODEC_NONE);
    none_batch.set_body(raw);
  }
  std::mt19937_64 rng(42);
  int decoded = 0;
  for (int it = 0; it < 20000; ++it) {
    v1::PackedBatch m = it % 2 ? none_batch : zstd_batch;
    std::string b = m.body();
    for (int j = 0, k = 1 + static_cast<int>(rng() % 4); j < k; ++j) {
      switch (rng() % 5) {
        case 0: {
          const std::size_t at = rng() % b.size();
          b[at] = static_cast<char>(static_cast<unsigned char>(b[at]) ^ (1U << (rng() % 8)));
          break;
        }
        case 1:
          b.resize(1 + rng() % b.size());
          break;
        case 2:
          b.insert(b.begin() + static_cast<long>(rng() % b.size()), static_cast<char>(rng()));
          break;
        case 3:
          m.set_raw_size(rng() % 2 ? rng() % 100000 : m.raw_size() + rng() % 5 - 2);
          break;
        default:
          m.set_records(static_cast<std::uint32_t>(rng() % 100));
          break;
      }
    }
    m.set_body(b);
    if (m.codec() == v1::PackedBatch::CODEC_NONE) m.set_raw_size(b.size());
    google::protobuf::Arena arena;
    auto* out = google::protobuf::Arena::CreateMessage<v1::Batch>(&arena);
    if (hub::decode_packed_batch(m, {60, 4096}, hub::decode_scratch(), *out)) continue;
    ++decoded;
    std::size_t bytes = 0;
    for (const auto& r : out->records()) {
      bytes += r.payload().size() + r.device_id().size() + r.mqtt_topic().size();
    }
    REQUIRE(out->records_size() == static_cast<int>(m.records()));
    REQUIRE(bytes <= 4096);
    for (int i = 1; i < out->records_size(); ++i) {
      REQUIRE(out->records(i).seq() > out->records(i - 1).seq());
    }
  }
  MESSAGE(decoded << " of 20000 corrupted batches still decoded (then judged by check_batch)");
}
