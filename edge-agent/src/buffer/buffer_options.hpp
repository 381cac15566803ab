// The buffer's options: the `buffer.*` keys of agent.yaml are bound to these members
// (agent_config.cpp), so each initializer below is the shipped default of its key, for the agent
// and for a test that builds the options itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace edgesync::agent {

enum class FullPolicy { kDropOldest, kBlock };  // in the order of buffer.full_policy's choices

struct SqliteBufferOptions {
  std::string path = "/var/lib/edgesync/buffer.db";
  bool synchronous_full = true;     // PRAGMA synchronous=FULL (fsync per commit) or NORMAL
  std::size_t commit_window = 256;  // max messages accepted but not yet committed
  std::size_t max_commit_batch = 2000;
  std::uint64_t max_bytes = 512u << 20;  // 0 = unbounded; accounted record bytes, record_cost()
  std::chrono::seconds max_age{604800};  // 0 = keep forever
  FullPolicy full_policy = FullPolicy::kDropOldest;
  bool quick_check = true;                        // integrity check + quarantine at start-up
  std::uint64_t max_page_count = 0;               // tests: emulate a full disk (SQLITE_FULL)
  std::uint64_t disk_reserve_bytes = 2u << 20;    // "<path>.reserve", released on a full disk
  std::chrono::seconds maintenance_interval{30};  // accounting refresh, vacuum, WAL truncate
  std::chrono::seconds expiry_interval{5};
  std::chrono::milliseconds commit_delay{1000};  // gather time before a commit (window > 0)
  // Not a config key: called once, from the writer thread, when the file failed for good
  // (BufferStats::failed). The agent ends its run with kExitBufferFailed.
  std::function<void()> on_failure = nullptr;
};

}  // namespace edgesync::agent
