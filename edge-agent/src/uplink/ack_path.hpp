// The uplink's ack path, shared by its sessions (one at a time): records the hub refused for good
// go to the dead-letter table before the ack that covers them, and the buffer is never acked at
// or past a refused record whose move failed, so a record is kept until it is moved.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "buffer/buffer.hpp"
#include "uplink/uplink_counters.hpp"

namespace edgesync::agent {

class AckPath {
 public:
  AckPath(BufferReader& buffer, UplinkCounters& counters) : buffer_(buffer), counters_(counters) {}

  // The hub refused `seq` for good: moved to the dead-letter table by the next apply().
  void refused(std::uint64_t seq, const std::string& reason) { unmoved_.emplace(seq, reason); }

  // Moves what was refused through `through` (retrying earlier failed moves), then acks the
  // buffer through `through`, capped below the lowest record still unmoved. Returns the cap.
  std::uint64_t apply(std::uint64_t through);

 private:
  BufferReader& buffer_;
  UplinkCounters& counters_;
  // Refused records whose move to the dead-letter table failed (disk full, I/O): seq -> reason.
  // Touched by the session's ack path only (its handshake, then its ack reader thread).
  std::map<std::uint64_t, std::string> unmoved_;
};

}  // namespace edgesync::agent
