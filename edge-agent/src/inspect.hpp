// Read-only views of the buffer for field techs (`edge-agent buffer ...`). Opens the database
// read-only, so it never blocks the running agent (WAL readers do not block the writer).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace edgesync::agent {

struct BufferStatus {
  std::uint64_t records = 0;
  std::uint64_t payload_bytes = 0;
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t next_seq = 0;
  std::uint64_t epoch = 0;
  std::int64_t oldest_received_unix_ns = 0;
  std::int64_t newest_received_unix_ns = 0;
  std::uint64_t file_bytes = 0;  // database + WAL on disk
};

BufferStatus read_buffer_status(const std::string& db_path);
nlohmann::json to_json(const BufferStatus& s);
std::string to_text(const BufferStatus& s);

}  // namespace edgesync::agent
