// Opening the buffer database safely: integrity check, quarantine of a corrupt or unreadable file,
// and the sequence floor kept outside the data so sequence numbers are never reused, not even
// after the database file was quarantined or deleted.
#pragma once

#include <cstdint>
#include <string>

#include "sqlite.hpp"

namespace edgesync::agent {

struct StoreOpenResult {
  bool fresh = false;          // the database had no sequence state (new, deleted, quarantined)
  std::string quarantined_to;  // non-empty when a bad file was moved aside
  std::string quarantine_reason;
};

// Opens (creating when missing) the writer connection with WAL and the schema. When `check` is
// set, runs PRAGMA quick_check first; a corrupt or unreadable file (and its -wal/-shm) is renamed
// to "<path>.corrupt-<UTC timestamp>" and a fresh database is created.
sqlite::Db open_store(const std::string& path, bool synchronous_full, bool check,
                      StoreOpenResult* result);

// Sidecar file "<db>.seqfloor": sequence numbers below `reserved_through` may have been handed
// out. The writer extends the reservation (durably: write, fsync, rename) before it commits a
// sequence number beyond it; a fresh database starts above it.
class SeqFloor {
 public:
  explicit SeqFloor(std::string db_path);
  std::uint64_t reserved_through() const { return reserved_; }
  // Makes sure every seq < `next_after_commit` is covered; returns false (and logs) on I/O error.
  bool ensure(std::uint64_t next_after_commit);

 private:
  std::string path_;
  std::uint64_t reserved_ = 0;
};

}  // namespace edgesync::agent
