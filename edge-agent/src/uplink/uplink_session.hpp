// One stream to the hub: connect, hello/welcome, then batches out (calling thread) and acks in
// (its own ack reader thread) until the stream breaks or the uplink stops. Uplink runs one
// session after another; what outlives a session (config, token, buffer, packer, bandwidth
// bucket, counters, ack path, stop signal) is passed in.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/security/credentials.h>
#include "agent_config.hpp"
#include "buffer/buffer.hpp"

#include "edgesync/v1/sync.grpc.pb.h"
#include "uplink/ack_path.hpp"
#include "uplink/byte_bucket.hpp"
#include "uplink/stop_signal.hpp"
#include "uplink/uplink_counters.hpp"

namespace edgesync::agent {

class BatchPacker;
class LaneGate;

// TLS (uplink.tls.*) or insecure channel credentials; throws when a TLS file is unreadable.
std::shared_ptr<grpc::ChannelCredentials> make_credentials(const AgentConfig::Uplink& c);

class UplinkSession {
 public:
  struct Context {
    const AgentConfig::Uplink& cfg;
    const std::string& agent_id;
    const std::string& token;  // "" = none
    BufferReader& buffer;
    BatchPacker* packer;  // uplink.compression zstd, else null
    ByteBucket& bucket;   // uplink.max_bytes_per_s, across sessions
    UplinkCounters& counters;
    AckPath& acks;
    StopSignal& stop;
    const std::function<void(std::uint64_t)>& on_record_limit;  // may be empty
    const std::string& lane;                                    // Hello.lane: "" = the default lane
    std::size_t rank;  // the lane's priority slot in `gate`
    LaneGate* gate;    // null: no other lanes
  };
  // `target`: the configured hub (uplink.hub), or the owner a hub redirected us to (exactly_once
  // replicas, HubMessage.redirect).
  UplinkSession(Context c, std::string target);

  // Returns true when the hub welcomed us (so the backoff can be reset).
  bool run();
  // The hub's retry-after-ms trailer (rate limit, overload); 0 when none.
  std::chrono::milliseconds retry_hint() const { return retry_hint_; }
  // The owner's address when the hub redirected us (it does not own this agent), else "".
  const std::string& redirect() const { return redirect_; }

 private:
  using Stream = grpc::ClientReaderWriter<v1::AgentMessage, v1::HubMessage>;
  bool hub_ended();
  bool stopping();
  bool handshake(Stream& stream);
  void read_acks(Stream& stream);
  void send_loop(Stream& stream);
  // Tells the lane gate whether this lane has records the hub has not acked yet.
  void publish_busy(bool connected);

  Context c_;
  std::string target_;
  std::string redirect_;
  std::uint64_t sent_through_ = 0;
  std::size_t max_records_;
  std::size_t max_bytes_;
  bool packed_ = false;  // the hub welcomed FEATURE_PACKED_ZSTD
  std::mutex mu_;        // guards the state below, shared with the ack reader thread
  std::condition_variable cv_;
  std::deque<std::uint64_t> inflight_;  // last seq of each unacked batch
  std::chrono::steady_clock::time_point pause_until_{};
  bool broken_ = false;
  bool hub_closed_ = false;  // the hub ended the stream during the handshake
  std::chrono::milliseconds retry_hint_{0};
};

}  // namespace edgesync::agent
