#include "buffer/sqlite.hpp"

namespace edgesync::agent::sqlite {

Db::Db(const std::string& path, int flags) : path_(path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  db_.reset(raw);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    throw Error(rc, "cannot open SQLite database '" + path + "': " + msg);
  }
  sqlite3_extended_result_codes(raw, 1);
}

void Db::exec(std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw Error(rc, "SQLite error on '" + path_ + "' running [" + s + "]: " + msg);
  }
}

int Db::try_exec(const char* sql) noexcept {
  return sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
}

Stmt::Stmt(const Db& db, std::string_view sql) : db_(db.get()) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db.get(), sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  st_.reset(raw);
  if (rc != SQLITE_OK) {
    throw Error(rc, "cannot prepare [" + std::string(sql) + "]: " + sqlite3_errmsg(db.get()));
  }
}

void Stmt::check(int rc) const {
  if (rc != SQLITE_OK) throw Error(rc, std::string("SQLite bind failed: ") + sqlite3_errmsg(db_));
}

std::string Stmt::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_.get(), col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_.get(), col)))
           : std::string();
}

std::string Stmt::blob(int col) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(st_.get(), col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_.get(), col)))
           : std::string();
}

}  // namespace edgesync::agent::sqlite
