#pragma once

#include <cstdint>
#include <string>

namespace edgesync::agent {

// A message as mqtt_ingest hands it to the buffer (no sequence number yet).
struct IncomingMessage {
  std::string device_id;
  std::string topic;
  std::string payload;  // raw bytes, never re-encoded
  std::int64_t received_unix_ns = 0;
  int qos = 0;
};

// A committed record, as the uplink reads it back.
struct StoredRecord {
  std::uint64_t seq = 0;
  std::string device_id;
  std::string topic;
  std::string payload;
  std::int64_t received_unix_ns = 0;
  int qos = 0;
  // Rows of the dead-letter table only (field CLI, `--dead-letter`): why and when it was moved.
  std::string dead_letter_reason;
  std::int64_t dead_lettered_unix_ns = 0;
};

}  // namespace edgesync::agent
