// libFuzzer target: decoding an edgesync.v1.AgentMessage (what the hub's sync service reads from
// every agent stream). Parses the input, walks every field through reflection (oneof, nested
// batches, records, strings, bytes), then checks that re-serializing gives a message that parses
// to the same thing. The hub's batch validation has its own target (fuzz_stream_contract).
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "edgesync/v1/sync.pb.h"

namespace {

namespace pb = google::protobuf;

// Touches every set field; returns a checksum so the reads are not optimized away.
std::size_t walk(const pb::Message& m, int depth) {
  if (depth > 64) std::abort();  // the schema nests 3 deep; more means the parser is broken
  std::size_t sum = 0;
  const pb::Reflection* r = m.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const pb::FieldDescriptor* f : fields) {
    const int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
    for (int i = 0; i < n; ++i) {
      const bool rep = f->is_repeated();
      switch (f->cpp_type()) {
        case pb::FieldDescriptor::CPPTYPE_MESSAGE:
          sum += walk(rep ? r->GetRepeatedMessage(m, f, i) : r->GetMessage(m, f), depth + 1);
          break;
        case pb::FieldDescriptor::CPPTYPE_STRING: {
          std::string scratch;
          const std::string& s = rep ? r->GetRepeatedStringReference(m, f, i, &scratch)
                                     : r->GetStringReference(m, f, &scratch);
          for (const char ch : s) sum += static_cast<unsigned char>(ch);
          break;
        }
        case pb::FieldDescriptor::CPPTYPE_UINT64:
          sum += rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f);
          break;
        case pb::FieldDescriptor::CPPTYPE_INT64:
          sum += static_cast<std::size_t>(rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f));
          break;
        case pb::FieldDescriptor::CPPTYPE_UINT32:
          sum += rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f);
          break;
        default:
          sum += static_cast<std::size_t>(f->number());
          break;
      }
    }
  }
  sum += r->GetUnknownFields(m).field_count();
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  edgesync::v1::AgentMessage msg;
  if (!msg.ParseFromArray(data, static_cast<int>(size))) return 0;
  volatile std::size_t sink = walk(msg, 0);
  (void)sink;
  (void)msg.msg_case();
  if (msg.has_batch()) {
    for (const auto& rec : msg.batch().records()) sink = sink + rec.payload().size() + rec.seq();
  }
  // Round trip: what we would forward or log must decode to the same message.
  const std::string again = msg.SerializeAsString();
  edgesync::v1::AgentMessage back;
  if (!back.ParseFromString(again) || !pb::util::MessageDifferencer::Equals(msg, back)) {
    std::abort();
  }
  return 0;
}
