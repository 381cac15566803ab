// The field-tech CLI (`edge-agent buffer status|tail|export|purge`), run as the real binary
// against buffers written by the real SqliteBuffer, mostly while a writer keeps committing.
#include <doctest/doctest.h>
#include <csignal>

#include <atomic>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <tuple>

#include "buffer/sqlite_buffer.hpp"
#include "cli/inspect.hpp"
#include "cli/inspect_format.hpp"
#include "cli/time_spec.hpp"
#include "edgesync/common/text.hpp"
#include "process.hpp"
#include "unix_clock.hpp"

using namespace edgesync::agent;
using namespace std::chrono_literals;
namespace t = edgesync::test;

namespace {

constexpr std::int64_t kT0 = 1'795'600'800'000'000'000;  // 2026-11-25T10:00:00Z

IncomingMessage msg(const std::string& device, std::string payload, std::int64_t received_ns) {
  return IncomingMessage{device, "sensors/" + device + "/data", std::move(payload), received_ns, 1};
}

SqliteBufferOptions opts(const std::filesystem::path& dir, std::size_t window = 0) {
  SqliteBufferOptions o;
  o.path = (dir / "buffer.db").string();
  o.commit_window = window;
  o.synchronous_full = false;  // no fsync per commit: keep the disk free for parallel tests
  o.max_age = std::chrono::seconds(0);  // records are stamped from kT0, a fixed 2026 time
  return o;
}

// Runs `edge-agent buffer <args...> --db DB`: {exit code, stdout + stderr}.
std::pair<int, std::string> cli(const std::filesystem::path& db, std::vector<std::string> args) {
  args.insert(args.begin(), {t::bin("edge-agent"), "buffer"});
  args.insert(args.end(), {"--db", db.string()});
  return t::run_capture(args, 60s);
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] == '{') out.push_back(nlohmann::json::parse(line));
  return out;
}

// RFC 4180 reader for the round-trip checks.
std::vector<std::vector<std::string>> parse_csv(const std::string& s) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, was_quoted = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quoted) {
      if (c == '"' && i + 1 < s.size() && s[i + 1] == '"')
        field += s[i++];
      else if (c == '"')
        quoted = false;
      else
        field += c;
    } else if (c == '"') {
      quoted = was_quoted = true;
    } else if (c == ',') {
      rows.back().push_back(std::exchange(field, {}));
      was_quoted = false;
    } else if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      rows.back().push_back(std::exchange(field, {}));
      rows.emplace_back();
      was_quoted = false;
      ++i;
    } else {
      REQUIRE_MESSAGE(!was_quoted, "text after a closing quote");
      field += c;
    }
  }
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

std::uint64_t meta_value(const std::filesystem::path& db, const std::string& key) {
  sqlite::Db d(db.string(), SQLITE_OPEN_READONLY);
  sqlite::Stmt st(d, "SELECT value FROM meta WHERE key = ?1");
  st.bind(1, std::string_view(key));
  return st.step() == SQLITE_ROW ? static_cast<std::uint64_t>(st.int64(0)) : 0;
}

std::uint64_t count_device(const std::filesystem::path& db, const std::string& device) {
  sqlite::Db d(db.string(), SQLITE_OPEN_READONLY);
  return count_records(d, RecordFilter{{}, {}, device, {}}).records;
}

// A second writer keeps appending records of device "bg" (one commit each) until destroyed:
// every CLI command below runs against a buffer that is being written.
class BackgroundWriter {
 public:
  explicit BackgroundWriter(SqliteBuffer& b) : b_(b), th_([this] { loop(); }) {}
  ~BackgroundWriter() {
    stop_ = true;
    th_.join();
  }
  std::uint64_t committed() const { return b_.stats().committed_total; }
  std::uint64_t errors() const { return b_.stats().commit_errors; }
  // Proves the writer committed at least `n` more records (it was not blocked meanwhile).
  bool advances(std::uint64_t n = 3) const {
    const auto start = committed();
    return t::wait_until([&] { return committed() >= start + n; }, 20s);
  }

 private:
  void loop() {
    for (int i = 0; !stop_; ++i) {
      b_.append(msg("bg", "bg-" + std::to_string(i), now_unix_ns()));
      std::this_thread::sleep_for(20ms);
    }
  }
  SqliteBuffer& b_;
  std::atomic<bool> stop_{false};
  std::thread th_;
};

const std::string kBinary("\x00\xff\xfe\x01 not utf-8 \xc3\x28", 17);
const std::string kCsvNasty = "a,b \"quoted\"\r\nsecond line\n\xc3\xa9t\xc3\xa9, done";

}  // namespace

TEST_CASE("time specs accept ISO 8601 and relative and unix seconds") {
  const std::int64_t now = kT0;
  CHECK(parse_time_spec("2026-11-25T10:00:00Z", now) == kT0);
  CHECK(parse_time_spec("2026-11-25T11:30:00+01:30", now) == kT0);
  CHECK(parse_time_spec("2026-11-25T10:00:00.250Z", now) == kT0 + 250'000'000);
  CHECK(parse_time_spec("2026-11-25", now) == kT0 - 10LL * 3600 * 1'000'000'000LL);
  CHECK(parse_time_spec("1795600800", now) == kT0);
  CHECK(parse_time_spec("-2h", now) == kT0 - 7200 * 1'000'000'000LL);
  CHECK(parse_time_spec("-1h30m", now) == kT0 - 5400 * 1'000'000'000LL);
  CHECK(parse_time_spec("-7d", now) == kT0 - 7LL * 86400 * 1'000'000'000LL);
  CHECK(parse_time_spec("now", now) == kT0);
  for (const char* bad :
       {"", "yesterday", "2026-13-01", "2026-02-30T00:00:00Z", "-2", "-2x", "12abc"})
    CHECK_THROWS_AS(parse_time_spec(bad, now), TimeSpecError);
  CHECK(iso8601_utc(kT0 + 5'000'000) == "2026-11-25T10:00:00.005Z");
  CHECK(iso8601_utc(kT0, 0) == "2026-11-25T10:00:00Z");
}

TEST_CASE("payload encodings round trip") {
  CHECK(edgesync::valid_utf8("h\xc3\xa9llo"));
  CHECK_FALSE(edgesync::valid_utf8(kBinary));
  CHECK_FALSE(edgesync::valid_utf8("\xed\xa0\x80"));  // surrogate
  CHECK_FALSE(edgesync::valid_utf8("\xc0\xaf"));      // overlong
  for (std::string s :
       {std::string(), std::string("f"), std::string("fo"), std::string("foo"), kBinary})
    CHECK(base64_decode(base64_encode(s)) == s);
  CHECK(base64_encode("foob") == "Zm9vYg==");
  CHECK(csv_field("a\"b") == "\"a\"\"b\"");
  CHECK(csv_field("plain") == "plain");
  CHECK(payload_preview(kBinary, false, 80) == "<17 bytes binary>");
  CHECK(payload_preview("\x01\xff", true, 80) == "01ff");
  CHECK(payload_preview(std::string(100, 'x'), false, 20) == std::string(17, 'x') + "...");
  CHECK(human_bytes(5'600'000) == "5.6 MB");
}

TEST_CASE("status of an older file without state table shows unknown") {
  auto dir = t::make_temp_dir("insp-old");
  const auto db = dir / "buffer.db";
  {
    sqlite::Db d(db.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    d.exec(
        "CREATE TABLE records(seq INTEGER PRIMARY KEY, device_id TEXT, topic TEXT, payload BLOB, "
        "received_ns INTEGER, qos INTEGER);"
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID;"
        "INSERT INTO meta VALUES ('next_seq', 3), ('epoch', 7);"
        "INSERT INTO records VALUES (1, 'd', 't', 'ab', 1000, 1), (2, 'd', 't', 'cde', 2000, 1);");
  }
  auto [rc, out] = cli(db, {"status"});
  CHECK(rc == 0);
  CHECK(out.find("hub            unknown") != std::string::npos);
  CHECK(out.find("last sync      -") != std::string::npos);
  CHECK(out.find("no state table") != std::string::npos);
  auto [jrc, jout] = cli(db, {"status", "--json"});
  REQUIRE(jrc == 0);
  const auto j = nlohmann::json::parse(jout);
  CHECK(j["records"] == 2);
  CHECK(j["payload_bytes"] == 5);
  CHECK(j["next_seq"] == 3);
  CHECK(j["state"]["available"] == false);
  CHECK(j["state"]["hub_state"] == "unknown");
  CHECK(j["state"]["last_sync_unix_ns"].is_null());
  CHECK(j["dropped"]["purge"] == 0);
  CHECK(j["dropped"]["total"] == 0);
}

TEST_CASE("status shows drop counters and agent state and flags a stale state") {
  auto dir = t::make_temp_dir("insp-state");
  const auto db = dir / "buffer.db";
  SqliteBuffer b(opts(dir));
  BackgroundWriter bg(b);
  REQUIRE(bg.advances());
  auto set_state = [&](std::int64_t updated_ns) {
    sqlite::Db d(db.string(), SQLITE_OPEN_READWRITE);
    d.busy_timeout(sqlite::kWriterBusyTimeoutMs);
    d.exec("CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID");
    d.exec("INSERT OR IGNORE INTO meta(key, value) VALUES ('dropped_oldest', 0)");
    d.exec("UPDATE meta SET value = 5 WHERE key = 'dropped_oldest'");
    d.exec(
        "INSERT OR REPLACE INTO state VALUES ('hub_state', 'connected'), ('mqtt_state', "
        "'disconnected'), ('last_sync_unix_ns', '" +
        std::to_string(updated_ns) +
        "'), ('last_error', 'mqtt: connection refused'), ('updated_unix_ns', '" +
        std::to_string(updated_ns) + "')");
  };
  set_state(now_unix_ns());
  auto [rc, out] = cli(db, {"status", "--json"});
  REQUIRE(rc == 0);
  auto j = nlohmann::json::parse(out);
  CHECK(j["dropped"]["oldest"] == 5);
  CHECK(j["dropped"]["total"] >= 5);
  CHECK(j["state"]["available"] == true);
  CHECK(j["state"]["mqtt_state"] == "disconnected");
  CHECK(j["state"]["last_error"] == "mqtt: connection refused");
  CHECK(j["state"]["stale"] == false);
  std::tie(rc, out) = cli(db, {"status"});
  CHECK(out.find("hub            connected") != std::string::npos);
  CHECK(out.find("agent not running?") == std::string::npos);

  set_state(now_unix_ns() - 95'000'000'000);
  std::tie(rc, out) = cli(db, {"status"});
  CHECK(rc == 0);
  CHECK(out.find("agent not running? state is 9") != std::string::npos);
  CHECK(bg.advances());
  CHECK(bg.errors() == 0);
}

TEST_CASE("tail prints the last records in seq order") {
  auto dir = t::make_temp_dir("insp-tail");
  const auto db = dir / "buffer.db";
  SqliteBuffer b(opts(dir));
  for (int i = 0; i < 20; ++i)
    b.append(
        msg("dev-" + std::to_string(i % 2), i == 19 ? kBinary : "v=" + std::to_string(i), kT0 + i));
  auto [rc, out] = cli(db, {"tail", "-n", "5"});
  REQUIRE(rc == 0);
  CHECK(out.rfind("16  2026-11-25T10:00:00.000Z  dev-1  sensors/dev-1/data  v=15\n", 0) == 0);
  CHECK(
      out.find("\n20  2026-11-25T10:00:00.000Z  dev-1  sensors/dev-1/data  <17 bytes binary>\n") !=
      std::string::npos);
  std::tie(rc, out) = cli(db, {"tail", "-n", "1", "--hex"});
  CHECK(out.find("00fffe01") != std::string::npos);
  std::tie(rc, out) = cli(db, {"tail", "--json"});
  REQUIRE(rc == 0);
  const auto lines = json_lines(out);
  REQUIRE(lines.size() == 10);  // default -n
  for (std::size_t i = 0; i < lines.size(); ++i) CHECK(lines[i]["seq"] == 11 + i);
  CHECK(lines[0]["payload"] == "v=10");
  CHECK(base64_decode(lines[9]["payload_b64"].get<std::string>()) == kBinary);
}

TEST_CASE("tail follow picks up new records and stops on SIGINT") {
  auto dir = t::make_temp_dir("insp-follow");
  const auto db = dir / "buffer.db";
  SqliteBuffer b(opts(dir));
  for (int i = 0; i < 3; ++i) b.append(msg("old", "old-" + std::to_string(i), kT0));
  t::Process p({t::bin("edge-agent"), "buffer", "tail", "--follow", "-n", "2", "--json", "--db",
                db.string()},
               dir / "follow.log");
  REQUIRE(t::wait_until([&] { return json_lines(t::read_file(p.log())).size() == 2; }, 20s));
  for (int i = 0; i < 5; ++i) b.append(msg("new", "new-" + std::to_string(i), now_unix_ns()));
  REQUIRE(t::wait_until([&] { return json_lines(t::read_file(p.log())).size() == 7; }, 20s));
  const auto lines = json_lines(t::read_file(p.log()));
  for (std::size_t i = 0; i < lines.size(); ++i) CHECK(lines[i]["seq"] == 2 + i);
  CHECK(lines[6]["payload"] == "new-4");
  CHECK(p.alive());
  p.signal(SIGINT);
  CHECK(p.wait(10s) == 0);
}

TEST_CASE("tail follow exits when its stdout is closed") {
  auto dir = t::make_temp_dir("insp-pipe");
  const auto db = dir / "buffer.db";
  SqliteBuffer b(opts(dir));
  BackgroundWriter bg(b);
  REQUIRE(bg.advances());
  const std::string cmd = "'" + t::bin("edge-agent") + "' buffer tail -f -n 1 --db '" +
                          db.string() + "' | head -n 3; echo head-done";
  auto [rc, out] = t::run_capture({"sh", "-c", cmd}, 30s);
  CHECK(rc == 0);  // -1 would mean the tail kept running after head exited
  CHECK(out.find("head-done") != std::string::npos);
}

TEST_CASE("export jsonl round trips payloads byte-exact while the writer runs") {
  auto dir = t::make_temp_dir("insp-jsonl");
  const auto db = dir / "buffer.db";
  SqliteBuffer b(opts(dir, 256));
  std::vector<std::string> payloads{"plain", kBinary, kCsvNasty, "", std::string(5000, 'z')};
  for (std::size_t i = 0; i < 3000; ++i)
    b.append(msg("exp", payloads[i % payloads.size()], kT0 + static_cast<std::int64_t>(i)));
  BackgroundWriter bg(b);
  REQUIRE(bg.advances());
  const auto file = dir / "out.jsonl";
  auto [rc, out] = cli(
      db, {"export", "--format", "jsonl", "--device", "exp", "--out", file.string(), "--progress"});
  REQUIRE(rc == 0);
  CHECK(out.find("exported 3000 records to " + file.string()) != std::string::npos);
  const auto lines = json_lines(t::read_file(file));
  REQUIRE(lines.size() == 3000);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto& j = lines[i];
    CHECK(j["seq"] == i + 1);
    CHECK(j["device_id"] == "exp");
    CHECK(j["received_ns"] == kT0 + static_cast<std::int64_t>(i));
    const std::string p = j.contains("payload")
                              ? j["payload"].get<std::string>()
                              : *base64_decode(j["payload_b64"].get<std::string>());
    CHECK(p == payloads[i % payloads.size()]);
    CHECK(j.contains("payload_b64") == (i % payloads.size() == 1));
  }
  CHECK(bg.advances());
  CHECK(bg.errors() == 0);
}

TEST_CASE("export csv is RFC 4180 and round trips payloads") {
  auto dir = t::make_temp_dir("insp-csv");
  const auto db = dir / "buffer.db";
  SqliteBuffer b(opts(dir));
  std::vector<std::string> payloads{kCsvNasty, kBinary, "x"};
  for (const auto& p : payloads) b.append(msg("c,s\"v", p, kT0));
  BackgroundWriter bg(b);
  const auto file = dir / "out.csv";
  auto [rc, out] =
      cli(db, {"export", "--format", "csv", "--device", "c,s\"v", "-o", file.string()});
  REQUIRE(rc == 0);
  const auto rows = parse_csv(t::read_file(file));
  REQUIRE(rows.size() == 4);
  CHECK(rows[0] == std::vector<std::string>{"seq", "received", "received_ns", "device_id", "topic",
                                            "qos", "encoding", "payload"});
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    const auto& r = rows[i + 1];
    REQUIRE(r.size() == 8);
    CHECK(r[0] == std::to_string(i + 1));
    CHECK(r[1] == "2026-11-25T10:00:00.000000000Z");
    CHECK(r[3] == "c,s\"v");
    CHECK(r[6] == (i == 1 ? "base64" : "utf8"));
    CHECK((r[6] == "base64" ? *base64_decode(r[7]) : r[7]) == payloads[i]);
  }
  CHECK(bg.errors() == 0);
}

TEST_CASE("export filters by since and until and device") {
  auto dir = t::make_temp_dir("insp-filter");
  const auto db = dir / "buffer.db";
  SqliteBuffer b(opts(dir, 256));
  const std::int64_t min = 60'000'000'000;
  for (int i = 0; i < 60; ++i)
    b.append(msg(i % 2 ? "odd" : "even", std::to_string(i), kT0 + i * min));
  const auto now = now_unix_ns();
  b.append(msg("rel", "3h", now - 180 * min));
  b.append(msg("rel", "1h", now - 60 * min));
  b.stop();
  auto seqs = [&](std::vector<std::string> args) {
    const auto file = dir / "f.jsonl";
    args.insert(args.end(), {"--format", "jsonl", "--out", file.string()});
    int rc = 0;  // no structured binding: clang 14 cannot capture one (REQUIRE_MESSAGE)
    std::string out;
    std::tie(rc, out) = cli(db, args);
    REQUIRE_MESSAGE(rc == 0, out);
    std::vector<std::uint64_t> s;
    for (const auto& j : json_lines(t::read_file(file))) s.push_back(j["seq"]);
    return s;
  };
  using V = std::vector<std::uint64_t>;
  CHECK(seqs({"export", "--since", "2026-11-25T10:55:00Z", "--device", "odd"}) == V{56, 58, 60});
  CHECK(seqs({"export", "--since", "2026-11-25T10:10:00Z", "--until", "1795602060"}) ==
        V{11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21});
  CHECK(seqs({"export", "--since", "-2h", "--device", "rel"}) == V{62});
  CHECK(seqs({"export", "--device", "nobody"}).empty());

  auto [rc, out] = cli(db, {"export", "--format", "csv", "--since", "last tuesday"});
  CHECK(rc == 2);
  CHECK(out.find("--since: cannot parse 'last tuesday'") != std::string::npos);
  CHECK(out.find("ISO 8601") != std::string::npos);
  std::tie(rc, out) = cli(db, {"export", "--format", "xml"});
  CHECK(rc == 2);
}

TEST_CASE("purge with yes deletes exactly the matching rows and counts them") {
  auto dir = t::make_temp_dir("insp-purge");
  const auto db = dir / "buffer.db";
  SqliteBuffer b(opts(dir, 256));
  for (int i = 0; i < 12000; ++i)
    b.append(msg(i % 3 ? "gone" : "keep", "p" + std::to_string(i), kT0 + i));
  b.append(msg("old", "o", 1000));
  b.append(msg("old", "o", 2000));
  BackgroundWriter bg(b);
  REQUIRE(bg.advances());
  const auto purged_before = meta_value(db, "dropped_purge");
  int rc = 0;
  std::string out;
  std::tie(rc, out) = cli(db, {"purge", "--device", "gone", "--yes"});
  REQUIRE_MESSAGE(rc == 0, out);
  CHECK(out.find("deleted 8000 records") != std::string::npos);  // two chunks of <= 5000
  CHECK(count_device(db, "gone") == 0);
  CHECK(count_device(db, "keep") == 4000);
  CHECK(meta_value(db, "dropped_purge") == purged_before + 8000);

  std::tie(rc, out) = cli(db, {"purge", "--before", "2000-01-01T00:00:00Z", "-y"});
  REQUIRE(rc == 0);
  CHECK(count_device(db, "old") == 0);
  CHECK(count_device(db, "keep") == 4000);
  CHECK(count_device(db, "bg") > 0);
  CHECK(meta_value(db, "dropped_purge") == purged_before + 8002);

  std::tie(rc, out) = cli(db, {"purge", "--device", "nobody", "--yes"});
  CHECK(rc == 0);
  CHECK(out.find("nothing to delete") != std::string::npos);
  CHECK(bg.advances());
  CHECK(bg.errors() == 0);
}

TEST_CASE("purge without yes and without a TTY refuses") {
  auto dir = t::make_temp_dir("insp-refuse");
  const auto db = dir / "buffer.db";
  SqliteBuffer b(opts(dir));
  for (int i = 0; i < 5; ++i) b.append(msg("d", "x", kT0));
  auto [rc, out] = cli(db, {"purge", "--device", "d"});  // stdin is /dev/null
  CHECK(rc == 2);
  CHECK(out.find("refusing to delete 5 records") != std::string::npos);
  CHECK(out.find("--yes") != std::string::npos);
  CHECK(count_device(db, "d") == 5);
  std::tie(rc, out) = cli(db, {"purge", "--yes"});
  CHECK(rc == 2);
}

TEST_CASE("usage and runtime errors have distinct exit codes and say what to do") {
  auto dir = t::make_temp_dir("insp-errors");
  auto [rc, out] = cli(dir / "missing.db", {"status"});
  CHECK(rc == 1);
  CHECK(out.find((dir / "missing.db").string()) != std::string::npos);
  CHECK(out.find("--db") != std::string::npos);
  SqliteBuffer b(opts(dir));
  const auto db = dir / "buffer.db";
  std::tie(rc, out) = cli(db, {"tail", "-n", "many"});
  CHECK(rc == 2);
  CHECK(out.find("-n") != std::string::npos);
  std::tie(rc, out) = cli(db, {"tail", "--bogus"});
  CHECK(rc == 2);
  CHECK(out.find("--bogus") != std::string::npos);
  std::tie(rc, out) = t::run_capture({t::bin("edge-agent"), "buffer"});
  CHECK(rc == 2);
  std::tie(rc, out) = t::run_capture(
      {t::bin("edge-agent"), "buffer", "status", "--config", (dir / "nope.yaml").string()});
  CHECK(rc == 2);
}
