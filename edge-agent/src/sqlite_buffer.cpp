#include "sqlite_buffer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace edgesync::agent {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS records(
  seq INTEGER PRIMARY KEY,
  device_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  received_ns INTEGER NOT NULL,
  qos INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta(key, value) VALUES ('next_seq', 1), ('epoch', 0), ('schema_version', 1);
)sql";

sqlite::Db open_writer(const SqliteBufferOptions& o) {
  sqlite::Db db(o.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  db.exec("PRAGMA busy_timeout=5000");
  db.exec("PRAGMA journal_mode=WAL");
  db.exec(o.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  db.exec(kSchema);
  return db;
}

sqlite::Db open_reader(const std::string& path) {
  sqlite::Db db(path, SQLITE_OPEN_READONLY);
  db.exec("PRAGMA busy_timeout=5000");
  return db;
}

std::uint64_t scalar_u64(const sqlite::Db& db, const char* sql) {
  sqlite::Stmt st(db, sql);
  return st.step() == SQLITE_ROW ? static_cast<std::uint64_t>(st.int64(0)) : 0;
}

}  // namespace

SqliteBuffer::SqliteBuffer(SqliteBufferOptions opts)
    : opts_(std::move(opts)),
      wdb_(open_writer(opts_)),
      insert_(wdb_,
              "INSERT INTO records(seq, device_id, topic, payload, received_ns, qos) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
      delete_(wdb_, "DELETE FROM records WHERE seq <= ?1"),
      set_next_(wdb_, "UPDATE meta SET value = ?1 WHERE key = 'next_seq'"),
      rdb_(open_reader(opts_.path)),
      select_(rdb_,
              "SELECT seq, device_id, topic, payload, received_ns, qos FROM records "
              "WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
      min_seq_(rdb_, "SELECT min(seq) FROM records") {
  // The high-water mark is persisted with every commit; max(seq)+1 guards against a file
  // written by an older version.
  const auto from_meta = scalar_u64(wdb_, "SELECT value FROM meta WHERE key = 'next_seq'");
  const auto from_data = scalar_u64(wdb_, "SELECT coalesce(max(seq), 0) + 1 FROM records");
  next_seq_ = std::max<std::uint64_t>({from_meta, from_data, 1});
  committed_seq_ = next_seq_ - 1;
  writer_ = std::thread([this] { writer_loop(); });
  spdlog::info("buffer: opened {} (next seq {}, synchronous={}, commit window {})", opts_.path,
               next_seq_.load(), opts_.synchronous_full ? "FULL" : "NORMAL", opts_.commit_window);
}

SqliteBuffer::~SqliteBuffer() { stop(); }

void SqliteBuffer::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
  }
  work_cv_.notify_all();
  committed_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

AppendStatus SqliteBuffer::append(IncomingMessage msg) {
  std::unique_lock lk(mu_);
  if (stopping_) return AppendStatus::kStopped;
  pending_.push_back(std::move(msg));
  const std::uint64_t ticket = ++appended_;
  work_cv_.notify_one();
  if (opts_.commit_window == 0) {
    committed_cv_.wait(lk, [&] { return committed_ >= ticket || writer_done_; });
  } else {
    committed_cv_.wait(
        lk, [&] { return appended_ - committed_ < opts_.commit_window || writer_done_; });
  }
  return AppendStatus::kAccepted;
}

void SqliteBuffer::writer_loop() {
  std::vector<IncomingMessage> batch;
  int failures = 0;
  for (;;) {
    std::uint64_t ack = 0;
    {
      std::unique_lock lk(mu_);
      work_cv_.wait(lk, [&] {
        return !pending_.empty() || requested_ack_ > applied_ack_ || stopping_;
      });
      if (pending_.empty() && requested_ack_ <= applied_ack_ && stopping_) break;
      if (stopping_ && failures > 20) {
        spdlog::error("buffer: giving up at shutdown with {} messages not committed",
                      pending_.size());
        break;
      }
      const std::size_t n = std::min(pending_.size(), opts_.max_commit_batch);
      batch.assign(std::make_move_iterator(pending_.begin()),
                   std::make_move_iterator(pending_.begin() + static_cast<std::ptrdiff_t>(n)));
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
      ack = requested_ack_;
    }
    const bool ok = commit(batch, ack);
    {
      std::lock_guard lk(mu_);
      if (ok) {
        committed_ += batch.size();
        committed_seq_ = next_seq_.load() - 1;
        applied_ack_ = std::max(applied_ack_, ack);
        batch.clear();
        failures = 0;
      } else {
        // Keep order: the failed batch goes back in front of what arrived meanwhile.
        pending_.insert(pending_.begin(), std::make_move_iterator(batch.begin()),
                        std::make_move_iterator(batch.end()));
        batch.clear();
        ++failures;
      }
    }
    committed_cv_.notify_all();
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(std::min(50 * failures, 1000)));
  }
  std::lock_guard lk(mu_);
  writer_done_ = true;
  committed_cv_.notify_all();
}

bool SqliteBuffer::commit(std::vector<IncomingMessage>& batch, std::uint64_t ack) {
  std::lock_guard wl(wmu_);
  std::uint64_t next = next_seq_.load();
  const std::uint64_t first = next;
  int rc = wdb_.try_exec("BEGIN IMMEDIATE");
  auto fail = [&](const char* what) {
    spdlog::error("buffer: {} failed on {}: {} (rc={}); {} messages stay queued and are retried",
                  what, opts_.path, wdb_.errmsg(), rc, batch.size());
    wdb_.try_exec("ROLLBACK");
    commit_errors_.fetch_add(1);
    return false;
  };
  if (rc != SQLITE_OK) return fail("BEGIN");
  for (const auto& m : batch) {
    sqlite::StmtScope scope(insert_);
    insert_.bind(1, static_cast<std::int64_t>(next));
    insert_.bind(2, std::string_view(m.device_id));
    insert_.bind(3, std::string_view(m.topic));
    insert_.bind_blob(4, std::span<const char>(m.payload.data(), m.payload.size()));
    insert_.bind(5, m.received_unix_ns);
    insert_.bind(6, static_cast<std::int64_t>(m.qos));
    if ((rc = insert_.step()) != SQLITE_DONE) return fail("INSERT");
    ++next;
  }
  std::uint64_t deleted = 0;
  if (ack > 0) {
    sqlite::StmtScope scope(delete_);
    delete_.bind(1, static_cast<std::int64_t>(ack));
    if ((rc = delete_.step()) != SQLITE_DONE) return fail("DELETE");
    deleted = static_cast<std::uint64_t>(sqlite3_changes(wdb_.get()));
  }
  if (next != first) {
    sqlite::StmtScope scope(set_next_);
    set_next_.bind(1, static_cast<std::int64_t>(next));
    if ((rc = set_next_.step()) != SQLITE_DONE) return fail("UPDATE next_seq");
  }
  if ((rc = wdb_.try_exec("COMMIT")) != SQLITE_OK) return fail("COMMIT");
  next_seq_ = next;
  committed_total_ += batch.size();
  acked_total_ += deleted;
  return true;
}

std::vector<StoredRecord> SqliteBuffer::read_after(std::uint64_t after, std::size_t max_records,
                                                   std::size_t max_bytes) {
  std::vector<StoredRecord> out;
  std::lock_guard lk(rmu_);
  sqlite::StmtScope scope(select_);
  select_.bind(1, static_cast<std::int64_t>(after));
  select_.bind(2, static_cast<std::int64_t>(max_records));
  std::size_t bytes = 0;
  int rc;
  while ((rc = select_.step()) == SQLITE_ROW) {
    StoredRecord r;
    r.seq = static_cast<std::uint64_t>(select_.int64(0));
    r.device_id = select_.text(1);
    r.topic = select_.text(2);
    r.payload = select_.blob(3);
    r.received_unix_ns = select_.int64(4);
    r.qos = static_cast<int>(select_.int64(5));
    const std::size_t sz = r.payload.size() + r.topic.size() + r.device_id.size() + 32;
    if (!out.empty() && bytes + sz > max_bytes) break;
    bytes += sz;
    out.push_back(std::move(r));
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    spdlog::warn("buffer: read failed on {}: {} (rc={}); will retry", opts_.path, rdb_.errmsg(),
                 rc);
  }
  return out;
}

void SqliteBuffer::ack_through(std::uint64_t through) {
  {
    std::lock_guard lk(mu_);
    if (through <= requested_ack_) return;
    requested_ack_ = std::min(through, committed_seq_);
  }
  work_cv_.notify_one();
}

bool SqliteBuffer::wait_for_records(std::uint64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock lk(mu_);
  return committed_cv_.wait_for(lk, timeout, [&] { return committed_seq_ > after || stopping_; }) &&
         committed_seq_ > after;
}

std::uint64_t SqliteBuffer::first_unacked_seq() {
  std::lock_guard lk(rmu_);
  sqlite::StmtScope scope(min_seq_);
  if (min_seq_.step() != SQLITE_ROW || min_seq_.is_null(0)) return 0;
  return static_cast<std::uint64_t>(min_seq_.int64(0));
}

std::uint64_t SqliteBuffer::next_epoch() {
  std::lock_guard wl(wmu_);
  // max(previous + 1, wall clock ms): grows across restarts and also after the file was replaced.
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  sqlite::Stmt st(wdb_, "UPDATE meta SET value = max(value + 1, ?1) WHERE key = 'epoch'");
  st.bind(1, static_cast<std::int64_t>(now_ms));
  if (st.step() != SQLITE_DONE) throw sqlite::Error(0, "cannot persist session epoch: " + wdb_.errmsg());
  return scalar_u64(wdb_, "SELECT value FROM meta WHERE key = 'epoch'");
}

BufferStats SqliteBuffer::stats() {
  BufferStats s;
  {
    std::lock_guard lk(rmu_);
    sqlite::Stmt st(rdb_, "SELECT count(*), coalesce(sum(length(payload)), 0), min(seq) FROM records");
    if (st.step() == SQLITE_ROW) {
      s.records = static_cast<std::uint64_t>(st.int64(0));
      s.payload_bytes = static_cast<std::uint64_t>(st.int64(1));
      s.first_seq = st.is_null(2) ? 0 : static_cast<std::uint64_t>(st.int64(2));
    }
  }
  s.next_seq = next_seq_.load();
  s.committed_total = committed_total_.load();
  s.acked_total = acked_total_.load();
  s.commit_errors = commit_errors_.load();
  return s;
}

}  // namespace edgesync::agent
