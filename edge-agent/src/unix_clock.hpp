// The agent's one clock for timestamps that are stored or shown (received_ns, dead_lettered_ns,
// expiry, the CLI's "ago"): the system clock as unix nanoseconds. Intervals use steady_clock.
#pragma once

#include <chrono>
#include <cstdint>

namespace edgesync::agent {

inline std::int64_t now_unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace edgesync::agent
