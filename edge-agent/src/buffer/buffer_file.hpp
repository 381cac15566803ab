// The buffer file read from outside the agent (the field CLI, `edge-agent buffer ...`): status
// figures, record counts, paged and tail reads, all through read-only connections, so they never
// block the running agent (WAL readers do not block the writer); and purge, the one change made
// from outside, in short write transactions counted in meta.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "buffer/sqlite.hpp"
#include "record.hpp"

namespace edgesync::agent {

// What the agent reports about itself in the `state` table (absent in files of older agents).
struct AgentState {
  bool table_present = false;
  std::optional<std::string> hub_state, mqtt_state, last_error, buffer_state;
  std::optional<std::int64_t> last_sync_unix_ns, updated_unix_ns;
};

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
  // meta dropped_<reason> counters (oldest, expired, oversize, disk_full, purge always present;
  // absent keys count 0).
  std::map<std::string, std::uint64_t> dropped;
  // `<buffer>.corrupt-<time>` files beside the buffer (every quarantine that was not deleted,
  // not only the one this file was created after), oldest first; their count.
  std::vector<std::string> quarantined;
  std::uint64_t quarantined_files = 0;
  std::string buffer_id;                  // "" when the .seqfloor file holds none
  std::uint64_t dead_lettered = 0;        // meta dead_lettered: total ever moved there
  std::uint64_t dead_letter_purged = 0;   // meta dead_letter_purged: deleted by purge
  std::uint64_t dead_letter_evicted = 0;  // meta dead_letter_evicted: over the agent's bound
  std::uint64_t dead_letter_records = 0, dead_letter_payload_bytes = 0;  // stored now
  AgentState state;
  std::int64_t read_at_unix_ns = 0;  // when this status was taken
};

// Opens the buffer; throws std::runtime_error naming the path and --config/--db when missing.
sqlite::Db open_buffer(const std::string& db_path, bool writable);

BufferStatus read_buffer_status(const std::string& db_path);
// The quarantined files of the buffer at `db_path` (`<db_path>.corrupt-<time>`, without their
// -wal/-shm), oldest first.
std::vector<std::string> quarantined_files(const std::string& db_path);

// Which records a command works on; every set field must match.
struct RecordFilter {
  std::optional<std::int64_t> since_ns;  // received_ns >= since
  std::optional<std::int64_t> until_ns;  // received_ns < until
  std::optional<std::string> device;     // device_id == device
  std::optional<std::uint64_t> max_seq;  // seq <= max_seq
  bool dead_letter = false;  // the dead-letter table instead of the records (with the reason)
};

struct RecordCount {
  std::uint64_t records = 0, payload_bytes = 0, max_seq = 0;
};
RecordCount count_records(const sqlite::Db& db, const RecordFilter& f);

// Reads matching records in seq order, page by page: each page is its own short read
// transaction, so a long export never pins the WAL (the agent's checkpoints keep working) and
// memory stays bounded by one page.
class RecordPager {
 public:
  RecordPager(const sqlite::Db& db, RecordFilter f, std::uint64_t after_seq = 0,
              std::size_t page = 1000);
  // The next record, or nullopt when there is none (yet: call again later to follow).
  std::optional<StoredRecord> next();
  std::uint64_t last_seq() const { return after_; }

 private:
  const sqlite::Db* db_;
  sqlite::Stmt st_;
  RecordFilter f_;
  std::uint64_t after_;
  std::size_t page_;
  std::vector<StoredRecord> buf_;
  std::size_t pos_ = 0;
};

// The last n records (seq order) and the highest seq stored (0 when empty).
std::vector<StoredRecord> tail_records(const sqlite::Db& db, std::size_t n,
                                       bool dead_letter = false);

// Deletes matching records in transactions of at most `chunk` rows (BEGIN IMMEDIATE, busy
// timeout 10 s) and adds each chunk's count to meta dropped_purge (dead letters:
// dead_letter_purged) in the same transaction.
// `on_chunk` gets the running total. Returns the number deleted.
std::uint64_t purge_records(const std::string& db_path, const RecordFilter& f,
                            std::size_t chunk = 5000,
                            const std::function<void(std::uint64_t)>& on_chunk = {});

}  // namespace edgesync::agent
