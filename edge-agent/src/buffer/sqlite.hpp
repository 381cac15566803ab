// Thin RAII wrapper over the SQLite C API: one Db per connection, one Stmt per prepared statement.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace edgesync::agent::sqlite {

class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// How long a connection waits for another connection's lock before SQLITE_BUSY: writers (the
// agent's writer, the buffer store, the CLI's purge) and readers (the CLI's read-only commands).
inline constexpr int kWriterBusyTimeoutMs = 10000;
inline constexpr int kReaderBusyTimeoutMs = 5000;

class Db {
 public:
  // flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, or SQLITE_OPEN_READONLY.
  Db(const std::string& path, int flags);
  sqlite3* get() const { return db_.get(); }
  // Runs one or more statements without results; throws Error naming the SQL on failure.
  void exec(std::string_view sql);
  // Like exec, but returns the SQLite result code instead of throwing (hot path).
  int try_exec(const char* sql) noexcept;
  // sqlite3_busy_timeout: kWriterBusyTimeoutMs or kReaderBusyTimeoutMs.
  void busy_timeout(int ms) { sqlite3_busy_timeout(db_.get(), ms); }
  std::string errmsg() const { return sqlite3_errmsg(db_.get()); }
  const std::string& path() const { return path_; }

 private:
  struct Close {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  std::unique_ptr<sqlite3, Close> db_;
  std::string path_;
};

class Stmt {
 public:
  Stmt(const Db& db, std::string_view sql);
  void reset() noexcept {
    sqlite3_reset(st_.get());
    sqlite3_clear_bindings(st_.get());
  }
  void bind(int i, std::int64_t v) { check(sqlite3_bind_int64(st_.get(), i, v)); }
  // Text and blobs are bound without a copy (SQLITE_STATIC): the value must outlive the step,
  // so a temporary string does not compile.
  void bind(int i, std::string_view v) {
    check(sqlite3_bind_text(st_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
  }
  void bind(int i, std::string&& v) = delete;
  void bind_blob(int i, std::span<const char> v) {
    check(sqlite3_bind_blob(st_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() noexcept { return sqlite3_step(st_.get()); }
  std::int64_t int64(int col) const { return sqlite3_column_int64(st_.get(), col); }
  std::string text(int col) const;
  std::string blob(int col) const;
  bool is_null(int col) const { return sqlite3_column_type(st_.get(), col) == SQLITE_NULL; }

 private:
  void check(int rc) const;
  struct Finalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  std::unique_ptr<sqlite3_stmt, Finalize> st_;
  sqlite3* db_;
};

// Resets a statement when it goes out of scope, so a read lock is never held by accident.
class StmtScope {
 public:
  explicit StmtScope(Stmt& s) : s_(s) {}
  ~StmtScope() { s_.reset(); }
  StmtScope(const StmtScope&) = delete;
  StmtScope& operator=(const StmtScope&) = delete;

 private:
  Stmt& s_;
};

}  // namespace edgesync::agent::sqlite
