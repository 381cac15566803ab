// libFuzzer target: the hub's stream contract (cloud-hub/src/stream/stream_contract.hpp) on any
// AgentMessage and any stream state. The first 24 bytes of the input choose the state (last seq,
// the hello's next seq and first unacked seq), the rest is the message. Beyond "no crash", an
// accepted batch must really keep the contract: the properties are checked here independently of
// the validator, so a validator that lets a bad batch through aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "edgesync/common/text.hpp"
#include "edgesync/v1/sync.pb.h"
#include "stream_contract.hpp"

namespace {

std::uint64_t take_u64(const std::uint8_t*& data, std::size_t& size) {
  std::uint64_t v = 0;
  const std::size_t n = size < 8 ? size : 8;
  std::memcpy(&v, data, n);
  data += n;
  size -= n;
  return v;
}

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edgesync;
  hub::StreamState st;
  st.last_seq = take_u64(data, size) % 1'000'000'000;
  st.hello_next_seq = 1 + take_u64(data, size) % 1'000'000'000;
  st.first_allowed = 1 + take_u64(data, size) % st.hello_next_seq;
  v1::AgentMessage m;
  if (!m.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (m.has_hello()) {
    if (!hub::check_hello(m.hello())) {
      const auto& id = m.hello().agent_id();
      require(!id.empty() && id.size() <= hub::kMaxAgentIdBytes && valid_utf8(id) &&
              !has_control_chars(id));
      require(m.hello().next_seq() > 0 && m.hello().first_unacked_seq() < m.hello().next_seq());
      // A lane is "" or a short plain word: it keys the registry and is logged unescaped.
      const auto& lane = m.hello().lane();
      require(lane.size() <= hub::kMaxLaneBytes);
      for (const char c : lane) {
        require((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
      }
    }
    (void)printable(m.hello().agent_id());  // what a refusal logs
  }
  if (!m.has_batch()) return 0;
  hub::BatchLimits limits;
  limits.max_records = 64;
  limits.max_bytes = 1 << 16;
  limits.max_seq_rate = 1000;
  const auto since = std::chrono::seconds(st.last_seq % 7);
  const auto violation = hub::check_batch(m.batch(), st, limits, since);
  if (violation) {
    require(!violation->field.empty() && !violation->what.empty());
    return 0;
  }
  const std::uint64_t ceiling = hub::seq_ceiling(st, limits, since);
  std::uint64_t last = st.last_seq;
  std::size_t bytes = 0;
  require(m.batch().records_size() > 0 &&
          static_cast<std::size_t>(m.batch().records_size()) <= limits.max_records);
  for (const auto& r : m.batch().records()) {
    require(r.seq() > last && r.seq() >= st.first_allowed && r.seq() <= ceiling);
    require(valid_utf8(r.device_id()) && valid_utf8(r.mqtt_topic()) && !r.mqtt_topic().empty());
    last = r.seq();
    bytes += r.payload().size() + r.device_id().size() + r.mqtt_topic().size();
  }
  require(bytes <= limits.max_bytes);
  return 0;
}
