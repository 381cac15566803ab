// The field CLI and quarantined buffer files (`<buffer>.corrupt-<time>`): `buffer status` counts
// every one beside the buffer, and `buffer export --db FILE` reads one without changing it.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "buffer/sqlite_buffer.hpp"
#include "buffer_support.hpp"
#include "process.hpp"

using namespace edgesync::agent;
using namespace std::chrono_literals;
namespace t = edgesync::test;
namespace fs = std::filesystem;

namespace {

IncomingMessage msg(int i) {
  return IncomingMessage{"dev-q", "sensors/dev-q/data", "payload-" + std::to_string(i),
                         1'795'600'800'000'000'000 + i, 1};
}

std::string bytes_of(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Destroys the header page: the next open quarantines the file.
void corrupt(const fs::path& p) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(0);
  f << std::string(4096, '\x5a');
}

std::pair<int, std::string> buffer_cli(std::vector<std::string> args) {
  args.insert(args.begin(), {t::bin("edge-agent"), "buffer"});
  return t::run_capture(args, 60s);
}

}  // namespace

TEST_CASE("buffer status counts every quarantined file beside the buffer") {
  const auto dir = t::make_temp_dir("quarantine-status");
  const auto o = t::buffer_options(dir);
  {
    SqliteBuffer b(o);
    for (int i = 0; i < 10; ++i) b.append(msg(i));
  }
  // An older quarantine (with its WAL, which is not a file of its own) and a foreign file.
  fs::copy_file(o.path, o.path + ".corrupt-20260101T000000Z");
  std::ofstream(o.path + ".corrupt-20260101T000000Z-wal").put('x');
  std::ofstream(dir / "other.db.corrupt-20260101T000000Z").put('x');
  corrupt(o.path);
  std::string newest;
  {
    SqliteBuffer b(o);  // quarantines the damaged file, starts a new one
    newest = b.open_result().quarantined_to;
    REQUIRE_FALSE(newest.empty());
  }
  const auto json = buffer_cli({"status", "--json", "--db", o.path});
  REQUIRE_MESSAGE(json.first == 0, json.second);
  const auto j = nlohmann::json::parse(json.second);
  CHECK(j["quarantined_files"] == 2);
  CHECK(j["quarantined"] == nlohmann::json::array({o.path + ".corrupt-20260101T000000Z", newest}));
  const auto [rc, out] = buffer_cli({"status", "--db", o.path});
  CHECK(rc == 0);
  CHECK(out.find("quarantined    2 files beside the buffer") != std::string::npos);
  CHECK(out.find("buffer export --db FILE") != std::string::npos);
}

TEST_CASE("buffer export reads a quarantined file and leaves it as it was") {
  const auto dir = t::make_temp_dir("quarantine-export");
  auto o = t::buffer_options(dir);
  {
    SqliteBuffer b(o);
    for (int i = 0; i < 50; ++i) b.append(msg(i));
  }
  const std::string q = o.path + ".corrupt-20260101T000000Z";
  fs::copy_file(o.path, q);
  const std::string before = bytes_of(q);
  auto [rc, out] = buffer_cli({"export", "--format", "jsonl", "--db", q});
  REQUIRE(rc == 0);
  CHECK(out.find("\"payload\":\"payload-49\"") != std::string::npos);
  CHECK(out.find("exported 50 records") != std::string::npos);
  CHECK(bytes_of(q) == before);
  CHECK_FALSE(fs::exists(q + "-shm"));
  CHECK_FALSE(fs::exists(q + "-wal"));

  // A file damaged beyond reading: exit 1 naming the file, not a crash.
  corrupt(q);
  std::tie(rc, out) = buffer_cli({"export", "--format", "jsonl", "--db", q});
  CHECK(rc == 1);
  CHECK(out.find(q) != std::string::npos);
}
