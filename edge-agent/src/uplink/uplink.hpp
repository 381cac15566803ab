// Streams the buffer to the hub: one gRPC bidi stream at a time, batches in seq order with a
// bounded in-flight window, cumulative acks -> BufferReader::ack_through, reconnect with
// full-jitter exponential backoff, resume from the first unacked record.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "agent_config.hpp"
#include "buffer/buffer.hpp"
#include "uplink/ack_path.hpp"
#include "uplink/byte_bucket.hpp"
#include "uplink/stop_signal.hpp"
#include "uplink/uplink_counters.hpp"

namespace edgesync::agent {

class BatchPacker;
class LaneGate;

// An uplink's place among the agent's priority lanes (one uplink per lane); the default is the
// default lane alone.
struct UplinkLane {
  std::string name;              // "" = the default lane (Hello.lane)
  std::size_t rank = 0;          // 0 = highest priority (the gate's slot)
  LaneGate* gate = nullptr;      // shared by the lanes' uplinks; null: no other lanes
  ByteBucket* bucket = nullptr;  // shared uplink.max_bytes_per_s; null: this uplink's own
};

class Uplink {
 public:
  // `on_record_limit` gets each welcome's max_record_bytes (0 = the hub knows no limit), from the
  // uplink's thread; ingest applies it (MqttIngest::set_max_record_bytes).
  Uplink(AgentConfig::Uplink cfg, std::string agent_id, BufferReader& buffer,
         std::function<void(std::uint64_t)> on_record_limit = {}, UplinkLane lane = {});
  ~Uplink();
  Uplink(const Uplink&) = delete;
  Uplink& operator=(const Uplink&) = delete;

  void start();
  // Waits up to `grace` for outstanding acks, then closes the stream and joins.
  void stop(std::chrono::milliseconds grace);
  const UplinkCounters& counters() const { return counters_; }

 private:
  void run();

  AgentConfig::Uplink cfg_;
  std::string agent_id_;
  void refresh_token();  // re-reads uplink.token_file (rotation without a restart)
  std::string token_;
  BufferReader& buffer_;
  std::function<void(std::uint64_t)> on_record_limit_;
  UplinkLane lane_;
  UplinkCounters counters_;
  std::unique_ptr<BatchPacker> packer_;  // uplink.compression zstd; reused by every session
  ByteBucket bucket_;                    // uplink.max_bytes_per_s, across reconnects
  AckPath acks_;     // refused records to the dead-letter table, then the capped ack
  StopSignal stop_;  // stop(): flag, cancels the live stream, cuts the backoff short
  std::jthread thread_;
};

}  // namespace edgesync::agent
