// The rescue file "<db>.damaged": written when the buffer file fails for good at run time (every
// write fails: is_permanent_code), read at the next start. It holds why, and the messages that
// were accepted (MQTT-acked inside the commit window) but could not be committed, so the next
// start stores them in the fresh file after moving the failed one aside: nothing accepted is lost.
// Format: "edgesync-rescue 1\n<reason>\n", then per message: u32 device length, device, u32 topic
// length, topic, u32 payload length, payload, i64 received ns, u8 qos (little-endian).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "record.hpp"

namespace edgesync::agent {

struct Rescue {
  std::string reason;
  std::vector<IncomingMessage> messages;
  std::string damage;  // non-empty when the file was cut short or malformed (what was read stays)
};

// Writes atomically (temp file, fsync, rename). False (errno set) when it could not be written.
bool write_rescue(const std::string& path, const std::string& reason,
                  std::span<const IncomingMessage> messages);

// nullopt when there is no such file. Lengths are checked against the file's own size.
std::optional<Rescue> read_rescue(const std::string& path);

}  // namespace edgesync::agent
