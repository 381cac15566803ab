// The seams between ingest, storage, uplink and the monitor: one interface per user.
// SqliteBuffer is the product implementation; tests can wrap a side to inject faults.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "buffer/drop_reason.hpp"
#include "record.hpp"

namespace edgesync::agent {

// Exit status of `edge-agent run` when its buffer file failed for good (EX_TEMPFAIL): the
// supervisor restarts the agent, whose next start moves the file aside.
inline constexpr int kExitBufferFailed = 75;

enum class AppendStatus {
  kAccepted,  // committed, or queued within the configured commit window
  kStopped,   // the buffer is shutting down; the message was not accepted
  kFailed,    // the buffer file failed for good (BufferStats::failed); the message was not stored
};

struct BufferStats {
  std::uint64_t records = 0;       // stored now
  std::uint64_t stored_bytes = 0;  // accounted size of stored records (see buffer.max_bytes)
  std::uint64_t first_seq = 0;     // lowest seq still stored, 0 when empty
  std::uint64_t next_seq = 1;      // next seq to be assigned
  std::int64_t oldest_received_unix_ns = 0;  // 0 when empty
  std::uint64_t committed_total = 0;         // records committed by this process
  std::uint64_t acked_total = 0;             // records deleted after an ack by this process
  std::uint64_t commit_errors = 0;
  std::uint64_t commits = 0;                 // SQLite transactions committed by this process
  std::uint64_t dropped[kDropReasons] = {};  // persisted totals by DropReason
  std::uint64_t purged = 0;  // persisted total deleted by `buffer purge` (meta dropped_purge)
  std::uint64_t quarantined_files = 0;
  std::uint64_t dead_lettered = 0;     // persisted total moved to the dead-letter table
  std::uint64_t dead_letter_rows = 0;  // rows in the dead-letter table now
  bool full = false;                   // at buffer.max_bytes
  bool disk_full = false;  // the disk is full: dropping (drop-oldest) or holding MQTT (block)
  bool failed = false;     // the file failed for good: nothing more is stored (see failure)
  std::string failure;     // why, when failed
};

// The buffer as each of its users sees it. SqliteBuffer implements all three; a test wraps only
// the side it needs, and every method is pure, so a wrapper cannot swallow a call by accident.

// Ingest's side: messages in, and drops decided before the buffer.
class BufferWriter {
 public:
  virtual ~BufferWriter() = default;

  // Takes ownership of the message. Returns once it is committed, or (with a commit window > 0)
  // once it is queued and fewer than `window` messages are waiting for their commit.
  virtual AppendStatus append(IncomingMessage msg) = 0;

  // Counts drops decided outside the buffer (e.g. oversized MQTT messages); persisted.
  virtual void record_drop(DropReason reason, std::uint64_t n) = 0;
};

// The uplink's side: committed records out, acks and dead letters back, the session's identity.
class BufferReader {
 public:
  virtual ~BufferReader() = default;

  // Up to max_records committed records with seq > after, ascending, stopping early when the
  // payload total would pass max_bytes (at least one record is returned when any exists).
  virtual std::vector<StoredRecord> read_after(std::uint64_t after, std::size_t max_records,
                                               std::size_t max_bytes) = 0;

  // Deletes every record with seq <= through (the hub confirmed them durable in Kafka).
  virtual void ack_through(std::uint64_t through) = 0;

  // Waits until a record with seq > after is committed; false on timeout or stop.
  virtual bool wait_for_records(std::uint64_t after, std::chrono::milliseconds timeout) = 0;

  // Lowest stored seq (0 when empty) and the next seq to be assigned, cheaply.
  virtual std::uint64_t first_unacked_seq() = 0;
  virtual std::uint64_t next_seq() = 0;

  // Bumps and persists the session epoch; returns the new value. Never throws: on a full disk
  // the value lives in memory (still strictly increasing) and is persisted with a later commit.
  virtual std::uint64_t next_epoch() = 0;

  // Random identity of this buffer (32 lowercase hex chars = 128 random bits), created once
  // with the buffer and never changed; survives quarantine of a corrupt file (stored beside the
  // sequence floor, like the seq high-water mark). Sent in the hello so a hub can tell two
  // buffers under one agent id apart.
  virtual std::string buffer_id() = 0;

  // The hub refused record `seq` for a permanent reason (e.g. too large for Kafka): move it
  // into the dead-letter table (kept for the field tech, never resent), counted. Call before
  // the ack that covers `seq`. True when moved or not stored (nothing to do); false when the
  // move failed (disk full, I/O): the record is still stored, and the caller must not ack it.
  virtual bool dead_letter(std::uint64_t seq, std::string_view reason) = 0;
};

// The monitor's side: figures to export, and the agent's state for the field CLI.
class BufferMonitor {
 public:
  virtual ~BufferMonitor() = default;

  virtual BufferStats stats() = 0;

  // Agent state for the field CLI (`buffer status`): written with the next commit.
  // By value: a sink parameter, the implementations move from it.
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  virtual void publish_state(std::vector<std::pair<std::string, std::string>> kv) = 0;
};

}  // namespace edgesync::agent
