// Test support for the buffer suites: the options they start from and the drop counter they read.
#pragma once

#include <filesystem>

#include "buffer/sqlite_buffer.hpp"

namespace edgesync::test {

// A buffer file in `dir` with the shipped defaults (SqliteBufferOptions' initializers are the
// config keys' defaults) except: synchronous=NORMAL, commit window 0 (append returns after its
// commit), and no expiry (the suites stamp records with fixed past times; expiry has its own
// test).
inline agent::SqliteBufferOptions buffer_options(const std::filesystem::path& dir) {
  agent::SqliteBufferOptions o;
  o.path = (dir / "buffer.db").string();
  o.synchronous_full = false;
  o.commit_window = 0;
  o.max_age = std::chrono::seconds(0);
  return o;
}

inline std::uint64_t drops(agent::SqliteBuffer& b, agent::DropReason r) {
  return b.stats().dropped[agent::drop_index(r)];
}

}  // namespace edgesync::test
