// Hub-wide, in-process knowledge about agents: which stream is live for each (agent id, lane)
// (one at a time per lane; the lanes of one agent stream at the same time, proto "Priority lanes")
// and, per (agent, buffer), the highest seq Kafka confirmed (to skip resent records after a
// reconnect to the same replica). Losing it (restart, another replica) costs only duplicates.
//
// Nothing here can be raised by a hello for later sessions (proto/edgesync/v1/sync.proto, "Why
// no hello can poison the hub"): epochs are compared only with the stream live now, and the
// watermark handed to a new session is capped below the seq its hello says comes next.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace edgesync::hub {

// What the registry needs of a live stream.
class LiveStream {
 public:
  virtual ~LiveStream() = default;
  // A newer stream of the same buffer took over (this one is a half-open leftover): end it.
  virtual void replaced() = 0;
  // The hub is shutting down: stop reading, finish once what is in flight is acked.
  virtual void drain() = 0;
  // Kafka looks unreachable: if records of this stream wait for it, tell the agent to pause.
  virtual void kafka_unhealthy(const std::string& reason) = 0;
  // Agents moved between replicas (exactly_once): if this stream's sink session ended, end it.
  virtual void ownership_changed() {}
};

class SessionRegistry {
 public:
  // At most this many (agent, buffer) watermarks are remembered; beyond it, those of agents
  // without a live stream are forgotten (costing only duplicates if they come back).
  explicit SessionRegistry(std::size_t max_remembered) : max_remembered_(max_remembered) {}

  enum class Outcome { kOk, kDuplicateBuffer, kNotNewer };
  struct Claim {
    Outcome outcome = Outcome::kOk;
    std::uint64_t durable_through = 0;  // kOk: what the welcome may report
    bool watermark_reset = false;       // kOk: the buffer's seq space went backwards
    std::string live_buffer;            // kDuplicateBuffer / kNotNewer: the live stream's
    std::string live_lane;
    std::uint64_t live_epoch = 0;
  };
  // Makes `stream` the live stream of (`agent`, `lane`) unless another buffer's stream is live on
  // that lane (kDuplicateBuffer) or a stream of the same buffer with an epoch >= `epoch` is live
  // on any lane of the agent (kNotNewer). A live stream of the same buffer with a lower epoch is
  // replaced(), also on another lane (the buffer moved: one buffer, one live stream).
  Claim claim(const std::string& agent, const std::string& lane, const std::string& buffer,
              std::uint64_t epoch, std::uint64_t next_seq,
              const std::shared_ptr<LiveStream>& stream);
  void release(const std::string& agent, const std::string& lane, const LiveStream* stream);
  // Watermarks stay per (agent, buffer), whatever the lane.
  void update_durable(const std::string& agent, const std::string& buffer, std::uint64_t through);
  // Every live stream (for a graceful shutdown).
  std::vector<std::shared_ptr<LiveStream>> live() const;

  // The refusal's text for a claim that was not kOk (names agent, lanes and buffers).
  static std::string refusal_message(const Claim& c, const std::string& agent,
                                     const std::string& lane, const std::string& buffer,
                                     std::uint64_t epoch);

 private:
  struct Live {
    std::weak_ptr<LiveStream> stream;
    const LiveStream* raw = nullptr;
    std::string buffer;
    std::uint64_t epoch = 0;
  };
  struct Agent {
    std::unordered_map<std::string, Live> lanes;             // by lane; only claimed ones
    std::unordered_map<std::string, std::uint64_t> durable;  // by buffer id
  };
  void forget_idle_locked();

  std::size_t max_remembered_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Agent> agents_;
  std::size_t remembered_ = 0;  // watermarks held in agents_
};

}  // namespace edgesync::hub
