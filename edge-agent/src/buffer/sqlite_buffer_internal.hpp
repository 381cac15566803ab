// Pieces shared by the files implementing SqliteBuffer (not a public interface).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "buffer/record_cost.hpp"
#include "buffer/sqlite.hpp"
#include "buffer/sqlite_buffer.hpp"
#include "record.hpp"
#include "unix_clock.hpp"

namespace edgesync::agent {
namespace sqlite_buffer_detail {

inline std::uint64_t scalar_u64(const sqlite::Db& db, const char* sql) {
  sqlite::Stmt st(db, sql);
  return st.step() == SQLITE_ROW ? static_cast<std::uint64_t>(st.int64(0)) : 0;
}

}  // namespace sqlite_buffer_detail

struct SqliteBuffer::Work {
  std::vector<IncomingMessage> batch;
  std::uint64_t ack = 0;
  std::vector<std::pair<std::string, std::string>> state;
  std::uint64_t external_drops[kDropReasons] = {};
  bool expire = false;
  std::uint64_t emergency_drop_records = 0;  // disk full under drop-oldest
  std::uint64_t space_drop_bytes = 0;        // low on disk: free this many bytes of pages first
  bool low_space = false;                    // the file system had less than low_water_ free
  std::uint64_t vacuum_pages = 0;            // hand this many free pages back (reserve)
};

struct SqliteBuffer::Changes {
  std::uint64_t next_seq = 0;  // the next seq after the inserts
  std::uint64_t added_bytes = 0, acked_records = 0, acked_bytes = 0;
  std::uint64_t dropped[kDropReasons] = {}, dropped_records = 0, dropped_bytes = 0;
};

}  // namespace edgesync::agent
