// Opening the buffer database safely: integrity check, quarantine of a corrupt or unreadable file,
// and the sequence floor kept outside the data so sequence numbers are never reused, not even
// after the database file was quarantined or deleted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "buffer/buffer_rescue.hpp"
#include "buffer/disk_reserve.hpp"
#include "buffer/sqlite.hpp"

namespace edgesync::agent {

// The buffer's sequence space: seqs are in [1, kSeqLimit). A file holding seqs outside it (or a
// floor beyond it) is damaged, not data: 2^62 is ~146,000 years of 1M records a second.
inline constexpr std::uint64_t kSeqLimit = std::uint64_t{1} << 62;

// Write amplification on an SD card (bench/p5_wear.sh, docs/benchmarks.md P5): a new file gets
// 1 KiB pages (each commit rewrites its last, partly filled pages: 4 KiB pages wrote ~4x more per
// commit), and the writer checkpoints every kWalCheckpointPages pages (4 MiB of WAL, as SQLite's
// default of 1000 4 KiB pages; pages rewritten meanwhile are copied back once). An existing file
// keeps its page size (changing it needs a VACUUM).
inline constexpr int kNewFilePageSize = 1024;
inline constexpr int kWalCheckpointPages = 4000;

struct StoreOpenResult {
  bool fresh = false;          // the database had no sequence state (new, deleted, quarantined)
  std::string quarantined_to;  // non-empty when a bad file was moved aside
  std::string quarantine_reason;
  // The last run gave up on the file and left "<db>.damaged" (buffer_rescue.hpp): the failed file
  // was moved aside; SqliteBuffer stores these messages, then removes the rescue file.
  std::optional<Rescue> rescue;
};

// Opens (creating when missing) the writer connection with WAL and the schema. When `check` is
// set, runs PRAGMA quick_check and the sequence-space check first; a corrupt or unreadable file
// (and its -wal/-shm) is renamed to "<path>.corrupt-<UTC timestamp>" and a fresh database is
// created. A full disk is not corruption: the file is never quarantined for it; `reserve` (may be
// null) is released and the open retried, and nothing is written at open that is not needed (an
// existing file's auto_vacuum mode is left alone).
sqlite::Db open_store(const std::string& path, bool synchronous_full, bool check,
                      StoreOpenResult* result, DiskReserve* reserve = nullptr);

// True for SQLITE_FULL (any extended code) and for errors SQLite reports on ENOSPC.
bool is_disk_full_code(int rc);

// True for write errors that retrying cannot cure: the file is damaged or breaks the buffer's
// invariants (CORRUPT, NOTADB, CONSTRAINT, MISMATCH, RANGE, TOOBIG, FORMAT, ERROR). Busy, locked,
// full, I/O and out-of-memory errors are transient. After kPermanentFailureLimit of them in a
// row the writer gives up (SqliteBuffer: BufferStats::failed) and leaves "<db>.damaged"; the
// next open quarantines the file it names.
bool is_permanent_code(int rc);
inline constexpr int kPermanentFailureLimit = 3;
inline constexpr const char* kDamagedMarkerSuffix = ".damaged";

// Sidecar file "<db>.seqfloor": sequence numbers below `reserved_through` may have been handed
// out. The writer extends the reservation (durably: write, fsync, rename) before it commits a
// sequence number beyond it; a fresh database starts above it. The file also holds the buffer
// identity (128 random bits, 32 lowercase hex), created when missing, so it survives quarantine.
// Format: "<reserved_through>\nbuffer_id <hex>\n" (files of older agents hold the number only).
class SeqFloor {
 public:
  explicit SeqFloor(std::string db_path);
  std::uint64_t reserved_through() const { return reserved_; }
  const std::string& buffer_id() const { return buffer_id_; }
  // Makes sure every seq < `next_after_commit` is covered and a new buffer id is written;
  // returns false (and logs, with errno kept in last_errno()) on I/O error.
  bool ensure(std::uint64_t next_after_commit);
  int last_errno() const { return last_errno_; }

 private:
  bool write(std::uint64_t reserved);
  std::string path_;
  std::uint64_t reserved_ = 0;
  std::string buffer_id_;
  bool id_dirty_ = false;
  int last_errno_ = 0;
};

// The buffer id stored beside `db_path` (read-only); "" when there is none (yet).
std::string read_buffer_id(const std::string& db_path);

// 32 lowercase hex characters from std::random_device.
std::string new_buffer_id();
bool valid_buffer_id(const std::string& s);

}  // namespace edgesync::agent
