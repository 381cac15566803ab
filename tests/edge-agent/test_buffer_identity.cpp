// Buffer identity (buffer_id) and the dead-letter table, through the Buffer interface and the
// field CLI (`buffer status|tail|export|purge --dead-letter`).
#include <doctest/doctest.h>

#include <tuple>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "buffer/buffer_store.hpp"
#include "buffer/sqlite_buffer.hpp"
#include "process.hpp"
#include "services.hpp"

using namespace edgesync::agent;
using namespace std::chrono_literals;
namespace t = edgesync::test;

namespace {

IncomingMessage msg(int i) {
  return IncomingMessage{"dev-" + std::to_string(i % 3), "sensors/dev/x",
                         "payload-" + std::to_string(i), 1'795'600'800'000'000'000 + i, 1};
}

SqliteBufferOptions opts(const std::filesystem::path& dir) {
  SqliteBufferOptions o;
  o.path = (dir / "buffer.db").string();
  o.commit_window = 0;
  o.synchronous_full = false;
  o.max_age = std::chrono::seconds(0);  // msg() stamps records with a fixed 2026 time
  return o;
}

std::pair<int, std::string> cli(const std::filesystem::path& db, std::vector<std::string> args) {
  args.insert(args.begin(), {t::bin("edge-agent"), "buffer"});
  args.insert(args.end(), {"--db", db.string()});
  return t::run_capture(args, 60s);
}

std::uint64_t rows(const std::string& path, const char* table) {
  sqlite::Db d(path, SQLITE_OPEN_READONLY);
  sqlite::Stmt st(d, std::string("SELECT count(*) FROM ") + table);
  return st.step() == SQLITE_ROW ? static_cast<std::uint64_t>(st.int64(0)) : 0;
}

}  // namespace

TEST_CASE("buffer_id is 128 random bits, persisted, and survives reopen, quarantine and deletion") {
  auto dir = t::make_temp_dir("ident");
  auto o = opts(dir);
  std::string id;
  {
    SqliteBuffer b(o);
    id = b.buffer_id();
    b.append(msg(1));
  }
  CHECK(valid_buffer_id(id));
  CHECK(id.size() == 32);
  CHECK(read_buffer_id(o.path) == id);
  {
    SqliteBuffer b(o);  // reopen
    CHECK(b.buffer_id() == id);
  }
  {
    std::fstream f(o.path, std::ios::in | std::ios::out | std::ios::binary);
    f << std::string(4096, '\x5a');  // corrupt: quarantined at the next open
  }
  {
    SqliteBuffer b(o);
    REQUIRE_FALSE(b.open_result().quarantined_to.empty());
    CHECK(b.buffer_id() == id);
  }
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(o.path + s);
  {
    SqliteBuffer b(o);
    CHECK(b.buffer_id() == id);
  }
  // Another buffer has another id.
  auto other = t::make_temp_dir("ident2");
  SqliteBuffer b2(opts(other));
  CHECK(b2.buffer_id() != id);
  CHECK(valid_buffer_id(b2.buffer_id()));
}

TEST_CASE("a sequence floor file without a valid id gets one, keeping the floor") {
  auto dir = t::make_temp_dir("ident-old");
  auto o = opts(dir);
  t::write_file(o.path + ".seqfloor", "70000\n");  // written by an older agent
  std::string id;
  {
    SqliteBuffer b(o);
    id = b.buffer_id();
    CHECK(valid_buffer_id(id));
    CHECK(b.next_seq() == 70001);  // fresh database above the floor
  }
  CHECK(read_buffer_id(o.path) == id);                                       // persisted at once
  t::write_file(o.path + ".seqfloor", "70000\nbuffer_id NOT-HEX-AT-ALL\n");  // hostile
  SqliteBuffer b(o);
  CHECK(valid_buffer_id(b.buffer_id()));
  CHECK(b.next_seq() >= 70001);
  // 1000 ids: all distinct, lowercase hex.
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(new_buffer_id());
  CHECK(ids.size() == 1000);
  for (const auto& s : ids) CHECK(valid_buffer_id(s));
}

TEST_CASE("dead_letter moves the record, counts it and the row survives the ack") {
  auto dir = t::make_temp_dir("deadletter");
  auto o = opts(dir);
  {
    SqliteBuffer b(o);
    for (int i = 1; i <= 5; ++i) b.append(msg(i));
    b.dead_letter(3, "too large for Kafka (MESSAGE_TOO_LARGE)");
    auto s = b.stats();
    CHECK(s.dead_lettered == 1);
    CHECK(s.dead_letter_rows == 1);
    CHECK(s.records == 4);
    auto recs = b.read_after(0, 100, 1 << 20);
    REQUIRE(recs.size() == 4);
    for (const auto& r : recs) CHECK(r.seq != 3);  // never resent
    b.dead_letter(3, "again");                     // no longer stored: no-op
    b.dead_letter(99, "never");                    // never stored: no-op
    CHECK(b.stats().dead_lettered == 1);
    b.ack_through(5);
    REQUIRE(t::wait_until([&] { return b.stats().records == 0; }, 5s));
    b.dead_letter(4, "acked already");  // deleted by the ack: no-op
    CHECK(b.stats().dead_lettered == 1);
  }
  CHECK(rows(o.path, "dead_letter") == 1);
  SqliteBuffer again(o);  // the counter is persisted
  CHECK(again.stats().dead_lettered == 1);
  CHECK(again.stats().dead_letter_rows == 1);
}

TEST_CASE("buffer status, tail, export and purge show and clear dead letters") {
  auto dir = t::make_temp_dir("deadletter-cli");
  auto o = opts(dir);
  const std::filesystem::path db = o.path;
  std::string id;
  {
    SqliteBuffer b(o);
    id = b.buffer_id();
    for (int i = 1; i <= 6; ++i) b.append(msg(i));
    b.dead_letter(2, "too large, comma \"quoted\"");
    b.dead_letter(5, "schema rejected");
    b.ack_through(6);
  }
  auto st = t::buffer_status_json(db);
  CHECK(st["buffer_id"] == id);
  CHECK(st["dead_letter"]["total"] == 2);
  CHECK(st["dead_letter"]["records"] == 2);
  CHECK(st["records"] == 0);
  int rc = 0;
  std::string text;
  std::tie(rc, text) = cli(db, {"status"});
  REQUIRE(rc == 0);
  CHECK(text.find("buffer id      " + id) != std::string::npos);
  CHECK(text.find("dead letters   2 stored") != std::string::npos);

  std::tie(rc, text) = cli(db, {"tail", "--dead-letter"});
  REQUIRE_MESSAGE(rc == 0, text);
  CHECK(text.find("schema rejected") != std::string::npos);
  CHECK(text.find("payload-5") != std::string::npos);
  std::tie(rc, text) = cli(db, {"tail"});  // the records table is empty
  REQUIRE(rc == 0);
  CHECK(text.find("payload-5") == std::string::npos);

  std::tie(rc, text) = cli(db, {"export", "--format", "jsonl", "--dead-letter"});
  REQUIRE_MESSAGE(rc == 0, text);
  std::vector<nlohmann::json> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty() && l[0] == '{') lines.push_back(nlohmann::json::parse(l));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["seq"] == 2);
  CHECK(lines[0]["reason"] == "too large, comma \"quoted\"");
  CHECK(lines[0]["payload"] == "payload-2");
  CHECK(lines[1]["reason"] == "schema rejected");
  CHECK(lines[1].contains("dead_lettered"));

  std::tie(rc, text) = cli(db, {"export", "--format", "csv", "--dead-letter"});
  REQUIRE(rc == 0);
  CHECK(text.find("payload,reason,dead_lettered_ns\r\n") != std::string::npos);
  CHECK(text.find(",\"too large, comma \"\"quoted\"\"\",") != std::string::npos);

  std::tie(rc, text) = cli(db, {"purge", "--dead-letter"});  // no TTY, no --yes: refused
  CHECK(rc == 2);
  CHECK(rows(o.path, "dead_letter") == 2);
  std::tie(rc, text) = cli(db, {"purge", "--dead-letter", "--yes"});
  REQUIRE_MESSAGE(rc == 0, text);
  CHECK(text.find("deleted 2 dead letters") != std::string::npos);
  CHECK(rows(o.path, "dead_letter") == 0);
  st = t::buffer_status_json(db);
  CHECK(st["dead_letter"]["records"] == 0);
  CHECK(st["dead_letter"]["total"] == 2);
  CHECK(st["dead_letter"]["purged"] == 2);
}

TEST_CASE("dead letters are bounded: the oldest go first, counted") {
  auto dir = t::make_temp_dir("deadletter-bound");
  auto o = opts(dir);
  o.max_bytes = 10u << 20;  // dead letters may keep a tenth: 1 MiB
  SqliteBuffer b(o);
  for (int i = 1; i <= 6; ++i) {
    auto m = msg(i);
    m.payload = std::string(300000, static_cast<char>('a' + i));
    b.append(std::move(m));
  }
  for (std::uint64_t s = 1; s <= 6; ++s) b.dead_letter(s, "too large");
  CHECK(b.stats().dead_lettered == 6);
  CHECK(b.stats().dead_letter_rows == 3);  // 3 x 300 kB fit into 1 MiB, 4 do not
  {
    sqlite::Db d(o.path, SQLITE_OPEN_READONLY);
    sqlite::Stmt st(d, "SELECT min(seq), max(seq), count(*) FROM dead_letter");
    REQUIRE(st.step() == SQLITE_ROW);
    CHECK(st.int64(0) == 4);  // the newest are kept
    CHECK(st.int64(1) == 6);
    CHECK(st.int64(2) == 3);
  }
  auto st = t::buffer_status_json(o.path);
  CHECK(st["dead_letter"]["evicted"] == 3);
  CHECK(st["dead_letter"]["records"] == 3);
  CHECK(st["dead_letter"]["total"] == 6);
}
