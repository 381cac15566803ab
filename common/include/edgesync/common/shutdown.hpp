#pragma once
#include <chrono>
#include <optional>

namespace edgesync {

// Blocks SIGINT/SIGTERM (and ignores SIGPIPE) for the whole process; construct it in main() before
// any thread starts so every thread inherits the mask, then wait() for a stop request.
class ShutdownSignal {
 public:
  ShutdownSignal();
  ShutdownSignal(const ShutdownSignal&) = delete;
  ShutdownSignal& operator=(const ShutdownSignal&) = delete;
  // Returns the signal number, or nullopt when `timeout` passed without one.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  int wait();
};

}  // namespace edgesync
