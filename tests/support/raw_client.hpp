// A gRPC client for edgesync.v1.Sync/Stream that can break the protocol: it sends any bytes as a
// message (truncated protobuf, invalid UTF-8, crafted seqs) and reads what the hub answers. Built
// on the generic (byte buffer) API so nothing is checked on this side.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "edgesync/v1/sync.pb.h"

namespace edgesync::test {

class RawStream {
 public:
  // Opens a stream on `channel` (share one channel to put several streams on one connection).
  explicit RawStream(std::shared_ptr<grpc::Channel> channel,
                     const std::vector<std::pair<std::string, std::string>>& metadata = {});
  ~RawStream();
  RawStream(const RawStream&) = delete;
  RawStream& operator=(const RawStream&) = delete;

  static std::shared_ptr<grpc::Channel> channel(const std::string& address);

  bool write_bytes(const std::string& bytes);
  bool write(const v1::AgentMessage& m) { return write_bytes(m.SerializeAsString()); }
  // The next message, or nullopt when the hub ended the stream (then finish() has the status).
  std::optional<v1::HubMessage> read();
  // Half-closes (if not yet) and returns the hub's status.
  grpc::Status finish();
  void cancel() { ctx_.TryCancel(); }

 private:
  bool step(void* tag);

  grpc::ClientContext ctx_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  bool writes_done_ = false, finished_ = false, broken_ = false;
  grpc::Status status_;
};

// Message builders.
v1::AgentMessage hello(const std::string& agent, std::uint64_t next_seq, std::uint64_t epoch = 1,
                       const std::string& buffer_id = "", std::uint64_t first_unacked = 0);
v1::AgentMessage batch(std::uint64_t batch_id, const std::vector<std::uint64_t>& seqs,
                       std::size_t payload_bytes = 20, const std::string& topic = "sensors/d1/t");
// The seqs from..to, both included.
std::vector<std::uint64_t> seq_range(std::uint64_t from, std::uint64_t to);

// Reads until an ack covers `seq` (true) or the hub ends the stream (false). `last` gets the last
// ack read; the seqs of every ack's `rejected` list are added to `rejected`.
bool acked(RawStream& s, std::uint64_t seq, v1::Ack* last = nullptr,
           std::vector<std::uint64_t>* rejected = nullptr);

}  // namespace edgesync::test
