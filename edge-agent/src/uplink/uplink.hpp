// Streams the buffer to the hub: one gRPC bidi stream at a time, batches in seq order with a
// bounded in-flight window, cumulative acks -> BufferReader::ack_through, reconnect with
// full-jitter exponential backoff, resume from the first unacked record.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "agent_config.hpp"
#include "buffer/buffer.hpp"
#include "uplink/byte_bucket.hpp"

namespace grpc {
class ClientContext;
}

namespace edgesync::agent {

struct UplinkCounters {
  std::atomic<std::uint64_t> batches_sent{0};
  std::atomic<std::uint64_t> records_sent{0};
  std::atomic<std::uint64_t> acked_through{0};
  std::atomic<std::uint64_t> sessions{0};
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> dead_lettered{0};   // records the hub rejected for good
  std::atomic<std::uint64_t> packed_batches{0};  // of batches_sent: sent as PackedBatch
  std::atomic<std::uint64_t> stream_bytes{0};    // serialized messages written (before gzip)
  std::atomic<bool> connected{false};
};

class BatchPacker;

class Uplink {
 public:
  // `on_record_limit` gets each welcome's max_record_bytes (0 = the hub knows no limit), from the
  // uplink's thread; ingest applies it (MqttIngest::set_max_record_bytes).
  Uplink(AgentConfig::Uplink cfg, std::string agent_id, BufferReader& buffer,
         std::function<void(std::uint64_t)> on_record_limit = {});
  ~Uplink();
  Uplink(const Uplink&) = delete;
  Uplink& operator=(const Uplink&) = delete;

  void start();
  // Waits up to `grace` for outstanding acks, then closes the stream and joins.
  void stop(std::chrono::milliseconds grace);
  const UplinkCounters& counters() const { return counters_; }

 private:
  class Session;
  void run();

  AgentConfig::Uplink cfg_;
  std::string agent_id_;
  void refresh_token();  // re-reads uplink.token_file (rotation without a restart)
  std::string token_;
  BufferReader& buffer_;
  std::function<void(std::uint64_t)> on_record_limit_;
  UplinkCounters counters_;
  std::unique_ptr<BatchPacker> packer_;  // uplink.compression zstd; reused by every session
  ByteBucket bucket_;                    // uplink.max_bytes_per_s, across reconnects
  // Records the hub refused for good whose move to the dead-letter table failed (disk full,
  // I/O): seq -> reason. Retried before every ack; the buffer is never acked at or past the
  // lowest, so a record is kept until it is moved. Touched by the session's ack path only
  // (its handshake, then its ack reader thread), one session at a time.
  std::map<std::uint64_t, std::string> unmoved_;
  std::uint64_t apply_ack(std::uint64_t through);  // the retry and the capped ack_through

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  grpc::ClientContext* live_ctx_ = nullptr;  // guarded by mu_, for cancellation
  std::thread thread_;
};

}  // namespace edgesync::agent
