// How Uplink::stop() reaches a running session: a flag, the live stream's context to cancel, and
// a wait (the reconnect backoff) that a stop cuts short.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace grpc {
class ClientContext;
}

namespace edgesync::agent {

class StopSignal {
 public:
  // Registers the context of the stream being opened, so that stop() cancels it; false (nothing
  // registered) when stopping.
  bool attach(grpc::ClientContext* ctx);
  void detach();
  bool stopping();
  // Sets the flag, cancels the registered context, wakes wait_for().
  void stop();
  // Waits up to `d`; true when stopping.
  bool wait_for(std::chrono::milliseconds d);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  grpc::ClientContext* live_ctx_ = nullptr;
};

}  // namespace edgesync::agent
