// What a stream promises in its hello and every batch must keep (proto/edgesync/v1/sync.proto).
// Pure functions of the messages and the stream's state: unit-tested and fuzzed without gRPC.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "edgesync/v1/sync.pb.h"

namespace edgesync::hub {

inline constexpr std::size_t kMaxAgentIdBytes = 128;
inline constexpr std::size_t kMaxBufferIdBytes = 64;
inline constexpr std::size_t kMaxLaneBytes = 32;
inline constexpr std::size_t kMaxDeviceIdBytes = 256;
inline constexpr std::size_t kMaxTopicBytes = 65535;  // MQTT's own limit

struct Violation {
  std::string field;  // e.g. "batch.records[3].seq"
  std::string what;   // e.g. "12 is not above the stream's last seq 15"
};

// The hello: agent id and buffer id present, bounded, valid UTF-8, no control characters; the
// lane "" or 1-32 bytes of [a-z0-9_-].
std::optional<Violation> check_hello(const v1::Hello& h);

struct StreamState {
  std::uint64_t first_allowed = 1;  // lowest seq the hello says the agent can still send
  std::uint64_t hello_next_seq = 1;
  std::uint64_t last_seq = 0;  // highest seq of the stream so far
};

struct BatchLimits {
  std::size_t max_records = 5000;
  std::size_t max_bytes = 4 << 20;
  std::uint64_t max_seq_rate = 1000000;  // seqs per second an agent can assign
};

// Seqs > 0, strictly increasing across the stream, >= first_allowed and at most
// hello_next_seq - 1 + max_seq_rate x (seconds since hello + 1); strings valid UTF-8 and
// bounded; record count and bytes within the limits. `since_hello` is measured by the caller.
std::optional<Violation> check_batch(const v1::Batch& b, const StreamState& s,
                                     const BatchLimits& limits,
                                     std::chrono::steady_clock::duration since_hello);

// Highest seq a batch may carry now (saturating).
std::uint64_t seq_ceiling(const StreamState& s, const BatchLimits& limits,
                          std::chrono::steady_clock::duration since_hello);

}  // namespace edgesync::hub
