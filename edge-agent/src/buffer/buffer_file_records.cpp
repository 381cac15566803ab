// The buffer reader's record queries (used by the field CLI): count, paged reads, tail, chunked
// purge.
#include <algorithm>
#include <stdexcept>

#include "buffer/buffer_file.hpp"
#include "buffer/drop_reason.hpp"
#include "buffer/record_row.hpp"

namespace edgesync::agent {
namespace {

// ?1 = after seq; ?2..?5 = filter, NULL (unbound) when not set.
constexpr const char* kWhere =
    " WHERE seq > ?1 AND (?2 IS NULL OR received_ns >= ?2) AND (?3 IS NULL OR received_ns < ?3)"
    " AND (?4 IS NULL OR device_id = ?4) AND (?5 IS NULL OR seq <= ?5)";

void bind_filter(sqlite::Stmt& st, const RecordFilter& f, std::uint64_t after) {
  st.bind(1, static_cast<std::int64_t>(after));
  if (f.since_ns) st.bind(2, *f.since_ns);
  if (f.until_ns) st.bind(3, *f.until_ns);
  if (f.device) st.bind(4, std::string_view(*f.device));
  if (f.max_seq) st.bind(5, static_cast<std::int64_t>(*f.max_seq));
}

const char* table(bool dead_letter) {
  return dead_letter ? " FROM dead_letter" : " FROM records";
}

std::string columns(bool dead_letter) {
  return std::string("SELECT ") + (dead_letter ? kDeadLetterColumns : kRecordColumns) +
         table(dead_letter);
}

// Files of agents older than the dead-letter table have none: an empty one reads the same.
void require_table(const sqlite::Db& db, bool dead_letter) {
  if (!dead_letter) return;
  sqlite::Stmt st(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dead_letter'");
  if (st.step() != SQLITE_ROW) {
    throw std::runtime_error("'" + db.path() +
                             "' has no dead-letter table (written by an older agent: start the "
                             "current agent once, or there are no dead letters)");
  }
}

void check_done(int rc, const sqlite::Db& db, const char* what) {
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw sqlite::Error(rc, std::string(what) + " failed on '" + db.path() + "': " + db.errmsg());
  }
}

}  // namespace

RecordCount count_records(const sqlite::Db& db, const RecordFilter& f) {
  require_table(db, f.dead_letter);
  sqlite::Stmt st(db, std::string("SELECT count(*), coalesce(sum(length(payload)), 0), "
                                  "coalesce(max(seq), 0)") +
                          table(f.dead_letter) + kWhere);
  bind_filter(st, f, 0);
  RecordCount c;
  const int rc = st.step();
  check_done(rc, db, "count");
  if (rc == SQLITE_ROW) {
    c.records = static_cast<std::uint64_t>(st.int64(0));
    c.payload_bytes = static_cast<std::uint64_t>(st.int64(1));
    c.max_seq = static_cast<std::uint64_t>(st.int64(2));
  }
  return c;
}

RecordPager::RecordPager(const sqlite::Db& db, RecordFilter f, std::uint64_t after_seq,
                         std::size_t page)
    : db_(&db),
      st_(db, columns(f.dead_letter) + kWhere + " ORDER BY seq LIMIT ?6"),
      f_(std::move(f)),
      after_(after_seq),
      page_(std::max<std::size_t>(page, 1)) {}

std::optional<StoredRecord> RecordPager::next() {
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
    sqlite::StmtScope scope(st_);  // reset at once: no read transaction outlives the page
    bind_filter(st_, f_, after_);
    st_.bind(6, static_cast<std::int64_t>(page_));
    int rc;
    while ((rc = st_.step()) == SQLITE_ROW) buf_.push_back(record_from_row(st_, f_.dead_letter));
    if (rc != SQLITE_DONE) {
      throw sqlite::Error(rc, "reading records failed on '" + db_->path() + "': " + db_->errmsg());
    }
    if (buf_.empty()) return std::nullopt;
  }
  after_ = buf_[pos_].seq;
  return std::move(buf_[pos_++]);
}

std::vector<StoredRecord> tail_records(const sqlite::Db& db, std::size_t n, bool dead_letter) {
  require_table(db, dead_letter);
  sqlite::Stmt st(db, columns(dead_letter) + " ORDER BY seq DESC LIMIT ?1");
  st.bind(1, static_cast<std::int64_t>(n));
  std::vector<StoredRecord> out;
  int rc;
  while ((rc = st.step()) == SQLITE_ROW) out.push_back(record_from_row(st, dead_letter));
  check_done(rc, db, "tail");
  std::reverse(out.begin(), out.end());
  return out;
}

std::uint64_t purge_records(const std::string& db_path, const RecordFilter& f, std::size_t chunk,
                            const std::function<void(std::uint64_t)>& on_chunk) {
  sqlite::Db db = open_buffer(db_path, true);
  require_table(db, f.dead_letter);
  const std::string counter = f.dead_letter ? "dead_letter_purged" : drop_meta_key(kPurgeDropName);
  // The next chunk's upper seq is found by a plain read (no lock); the write transaction then
  // only walks the seq range (after, hi], so a sparse filter never holds the lock for a scan.
  sqlite::Stmt bound(db, std::string("SELECT max(seq) FROM (SELECT seq") + table(f.dead_letter) +
                             kWhere + " ORDER BY seq LIMIT ?6)");
  sqlite::Stmt del(db, std::string("DELETE") + table(f.dead_letter) + kWhere);
  sqlite::Stmt bump(db, "UPDATE meta SET value = value + ?1 WHERE key = '" + counter + "'");
  std::uint64_t total = 0, after = 0;
  for (;;) {
    RecordFilter range = f;
    {
      sqlite::StmtScope scope(bound);
      bind_filter(bound, f, after);
      bound.bind(6, static_cast<std::int64_t>(std::max<std::size_t>(chunk, 1)));
      const int rc = bound.step();
      check_done(rc, db, "purge");
      if (rc != SQLITE_ROW || bound.is_null(0)) break;
      range.max_seq = static_cast<std::uint64_t>(bound.int64(0));
    }
    db.exec("BEGIN IMMEDIATE");
    std::uint64_t n = 0;
    try {
      db.exec("INSERT OR IGNORE INTO meta(key, value) VALUES ('" + counter + "', 0)");
      {
        sqlite::StmtScope scope(del);
        bind_filter(del, range, after);
        const int rc = del.step();
        if (rc != SQLITE_DONE)
          throw sqlite::Error(rc, "DELETE failed on '" + db_path + "': " + db.errmsg());
        n = static_cast<std::uint64_t>(sqlite3_changes(db.get()));
      }
      if (n > 0) {
        sqlite::StmtScope scope(bump);
        bump.bind(1, static_cast<std::int64_t>(n));
        const int rc = bump.step();
        if (rc != SQLITE_DONE)
          throw sqlite::Error(rc, "updating " + counter + " failed: " + db.errmsg());
      }
      db.exec("COMMIT");
    } catch (...) {
      db.try_exec("ROLLBACK");
      throw;
    }
    after = *range.max_seq;
    total += n;
    if (on_chunk) on_chunk(total);
  }
  return total;
}

}  // namespace edgesync::agent
