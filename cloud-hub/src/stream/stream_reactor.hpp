// One agent stream as a gRPC callback reactor: no thread of its own, no polling. Reads are the
// backpressure (the next read starts only when the stream and the hub have room), one write is in
// flight at a time with acks coalesced behind it, timers come from the hub's one Timers thread,
// and Kafka delivery reports wake only the stream their batch belongs to.
//
//   OnReadDone(hello)  -> check, authorize, claim the (agent, lane) session, write Welcome
//   OnReadDone(batch)  -> check the contract, rate limit, produce (payload not copied: the batch's
//                         arena lives in an InflightBatch until its last report), maybe read next
//   delivery report    -> resolve the record (ok / dead-letter / reject) -> coalesced Ack write
//   read side ends     -> finish once every produced record is resolved (or the grace passes)
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ack_tracker.hpp"
#include "admission.hpp"
#include "auth.hpp"
#include "edgesync/v1/sync.pb.h"
#include "hub_config.hpp"
#include "hub_metrics.hpp"
#include "rate_limiter.hpp"
#include "refusal.hpp"
#include "session_registry.hpp"
#include "sink/sink.hpp"
#include "stream_contract.hpp"
#include "timers.hpp"

namespace edgesync::hub {

// What every stream of the hub shares; owned by SyncService, outlives every stream.
struct StreamDeps {
  const HubConfig& cfg;
  Sink& sink;
  HubMetrics& metrics;
  SessionRegistry& registry;
  AgentRateLimiter& limiter;
  Admission& admission;
  Timers& timers;
  RefusalLog& refusal_log;
  const std::atomic<bool>& draining;
};

class InflightBatch;

class StreamReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                            public LiveStream,
                            public std::enable_shared_from_this<StreamReactor> {
 public:
  // Creates an admitted stream (the caller counted it in Admission) and starts reading the hello.
  static StreamReactor* start(StreamDeps& deps, grpc::CallbackServerContext* ctx, Identity identity,
                              std::string peer);
  StreamReactor(StreamDeps& deps, grpc::CallbackServerContext* ctx, Identity identity,
                std::string peer);
  ~StreamReactor() override;

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  void replaced() override;
  void drain() override;
  void kafka_unhealthy(const std::string& reason) override;
  void ownership_changed() override;

  // From InflightBatch (the sink's thread): one record's report. Returns true when the record
  // was handed to Kafka again (dead-letter topic) and another report will follow.
  bool on_record_result(InflightBatch& b, DeliverySlot& slot, const DeliveryResult& r);
  // From InflightBatch: every record of it is resolved.
  void on_batch_done(InflightBatch& b);

 private:
  void handle_hello(const v1::Hello& h);
  void handle_batch(std::unique_ptr<google::protobuf::Arena> arena, v1::AgentMessage* msg,
                    std::size_t bytes);
  // Starts the next read when there is room; else waits for it (and sends SlowDown).
  void maybe_read_locked();
  void on_room();
  void slow_down_check(std::uint64_t pause_id);
  // Writes the next pending message (welcome, ack with rejects, slow-down) or the status.
  void maybe_write_locked();
  void refuse_locked(Refusal r, const std::string& message);
  // exactly_once, several replicas: another replica owns the agent ("" = none known yet).
  void refuse_not_owner_locked(const std::string& owner);
  void finish_locked(grpc::Status st);
  bool resolve_locked(std::uint64_t ordinal);
  void reject_locked(InflightBatch& b, DeliverySlot& slot, std::string reason);
  void maybe_finish_drained_locked();
  std::string agent_for_log() const;
  // " lane 'x'" for a lane other than the default one, else "" (log lines of agents before 1.4
  // read as before).
  std::string lane_for_log() const;

  StreamDeps& deps_;
  grpc::CallbackServerContext* ctx_;
  const Identity identity_;
  const std::string peer_;
  std::shared_ptr<StreamReactor> self_;  // released in OnDone; batches in flight hold their own

  std::mutex mu_;
  grpc::ByteBuffer in_;
  grpc::ByteBuffer out_;
  bool reading_ = false, read_closed_ = false;
  bool writing_ = false;
  bool finished_ = false, done_ = false;
  std::optional<grpc::Status> finish_wanted_;
  bool hello_seen_ = false, registered_ = false, draining_ = false;
  bool failed_ = false;  // a retriable delivery failure froze the acks
  std::optional<v1::HubMessage> welcome_;
  std::string slow_down_reason_;
  bool slow_down_wanted_ = false;
  bool paused_ = false;
  bool waiting_for_room_ = false;  // registered with Admission for a wake-up
  std::uint64_t pause_id_ = 0;

  std::string agent_, buffer_;
  std::string lane_;  // checked: "" or [a-z0-9_-]{1,32}, safe in logs as is
  std::vector<v1::Feature> features_;
  bool reject_ok_ = false;
  StreamState contract_;
  std::chrono::steady_clock::time_point hello_at_{};
  std::optional<AckTracker> tracker_;
  std::uint64_t sent_through_ = 0, sent_batch_ = 0;
  std::uint64_t session_ = 0;       // the sink's session (exactly_once), 0 otherwise
  std::uint64_t skip_through_ = 0;  // durable when the hello came: resent records are skipped
  std::vector<std::pair<std::uint64_t, std::string>> rejected_;  // not yet sent
};

}  // namespace edgesync::hub
