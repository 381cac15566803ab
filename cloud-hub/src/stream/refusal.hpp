// Every way the hub refuses or ends a stream, in one table: the gRPC status code, the metric
// label (`edgesync_hub_streams_rejected_total{reason=...}`) and what the operator does about it
// (docs/cloud-hub.md, "Refusals", is this table).
#pragma once

#include <grpcpp/support/status.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace edgesync::hub {

enum class Refusal : std::uint8_t {
  kDraining,
  kUnauthenticated,
  kPermissionDenied,
  kTooManyStreams,
  kTooManyStreamsOnConnection,
  kHelloTimeout,
  kBadHello,
  kMalformed,
  kInvalidBatch,
  kDuplicateBuffer,
  kRateLimited,
  kKafkaDeliveryFailed,
  kPermanentFailure,
  kNotOwner,
  kRebalancing,
  kCount
};

struct RefusalInfo {
  Refusal refusal;
  grpc::StatusCode code;
  const char* label;   // metric label and log word
  const char* action;  // what the operator does
};

// clang-format off
inline constexpr std::array<RefusalInfo, static_cast<std::size_t>(Refusal::kCount)> kRefusals = {{
  {Refusal::kDraining, grpc::StatusCode::UNAVAILABLE, "draining",
   "none: the replica is shutting down; agents reconnect to another one"},
  {Refusal::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED, "unauthenticated",
   "give the agent its token (uplink.token_file) or check hub.tokens_file"},
  {Refusal::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED, "permission_denied",
   "the hello's agent id differs from the token's or certificate's identity: fix agent.id"},
  {Refusal::kTooManyStreams, grpc::StatusCode::RESOURCE_EXHAUSTED, "max_streams",
   "the replica holds hub.max_streams: scale out (HPA) or raise it"},
  {Refusal::kTooManyStreamsOnConnection, grpc::StatusCode::RESOURCE_EXHAUSTED,
   "max_streams_per_connection",
   "one client opened more than hub.max_streams_per_connection streams: find it by peer"},
  {Refusal::kHelloTimeout, grpc::StatusCode::DEADLINE_EXCEEDED, "hello_timeout",
   "the client opened a stream and sent no hello in hub.hello_timeout_ms: not an edgesync agent?"},
  {Refusal::kBadHello, grpc::StatusCode::INVALID_ARGUMENT, "bad_hello",
   "the hello breaks the protocol (field named in the message): upgrade or fix the client"},
  {Refusal::kMalformed, grpc::StatusCode::INVALID_ARGUMENT, "malformed",
   "a message is not a valid AgentMessage: a broken or foreign client"},
  {Refusal::kInvalidBatch, grpc::StatusCode::INVALID_ARGUMENT, "invalid_batch",
   "a batch breaks the stream contract (field and agent named): nothing of it was acked; fix the "
   "client"},
  {Refusal::kDuplicateBuffer, grpc::StatusCode::ALREADY_EXISTS, "duplicate_buffer",
   "two buffers (two gateways?) stream under one agent id on one lane: give each its own "
   "agent.id"},
  {Refusal::kRateLimited, grpc::StatusCode::RESOURCE_EXHAUSTED, "rate_limited",
   "the agent is over hub.rate_limit.*: it waits retry-after-ms; raise the limit if intended"},
  {Refusal::kKafkaDeliveryFailed, grpc::StatusCode::UNAVAILABLE, "kafka_delivery_failed",
   "Kafka did not confirm a record in time: check Kafka; the agent resends what was not acked"},
  {Refusal::kPermanentFailure, grpc::StatusCode::FAILED_PRECONDITION, "dead_letter_unavailable",
   "Kafka refused a record for good and the agent cannot take it back (before 1.1): set "
   "kafka.dead_letter_topic or upgrade the agent"},
  {Refusal::kNotOwner, grpc::StatusCode::UNAVAILABLE, "not_owner",
   "none: exactly_once with several replicas; another replica owns the agent and the hub sent its "
   "address (HubMessage.redirect); an agent before 1.3 retries until the Service lands it there"},
  {Refusal::kRebalancing, grpc::StatusCode::UNAVAILABLE, "rebalancing",
   "none: the replicas' consumer group is rebalancing (a replica joined, left or died) and no "
   "owner of the agent is known yet; the agent retries after retry-after-ms"},
}};
// clang-format on

constexpr const RefusalInfo& refusal_info(Refusal r) {
  return kRefusals[static_cast<std::size_t>(r)];
}

// One warning line per reason per second at most; the lines held back are counted into the next.
class RefusalLog {
 public:
  void warn(Refusal r, std::string_view peer, std::string_view agent, std::string_view message);

 private:
  struct Slot {
    std::atomic<std::int64_t> last_ns{0};
    std::atomic<std::uint64_t> suppressed{0};
  };
  std::array<Slot, static_cast<std::size_t>(Refusal::kCount)> slots_;
};

}  // namespace edgesync::hub
