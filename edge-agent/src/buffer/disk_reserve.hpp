// A preallocated file beside the buffer ("<db>.reserve") that holds disk space back for the moment
// the disk fills: releasing it lets SQLite write the transaction that deletes the oldest records
// (drop-oldest), the drop counters and the agent state, and lets the buffer open again after a
// restart on a full disk. It is created again once the file system has room for it twice over.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace edgesync::agent {

// Free bytes for an unprivileged writer on the file system holding `path` (its directory when the
// file does not exist); -1 when unknown.
std::int64_t free_disk_bytes(const std::string& path);

// Not thread-safe except held(): callers serialise release/restore (SqliteBuffer: its writer lock).
class DiskReserve {
 public:
  // bytes == 0: no reserve (release/restore do nothing).
  DiskReserve(std::string db_path, std::uint64_t bytes);
  // Deletes the reserve file; returns the bytes it held (0 when there was none).
  std::uint64_t release();
  // Creates the reserve when it is missing and the file system has 2 x bytes free. True when
  // the reserve is in place afterwards.
  bool restore();
  bool held() const { return held_; }
  std::uint64_t bytes() const { return bytes_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::uint64_t bytes_;
  std::atomic<bool> held_{false};  // read without the caller's lock (writer loop)
};

}  // namespace edgesync::agent
