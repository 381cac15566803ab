// libFuzzer target: the edge-agent opening whatever file it finds at buffer.path. The input is
// written to a fresh temp dir as the buffer file, then opened as SqliteBuffer (quick_check on, as
// in production) and used: read everything, stats, ack, append and commit one record, stop. A
// corrupt file must be quarantined (renamed aside) and a fresh buffer created; a well-formed
// SQLite file with a foreign schema may be refused with an exception (the agent exits with a
// message). A crash, std::terminate, a hang or a sanitizer report is a finding.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "buffer/sqlite_buffer.hpp"

namespace fs = std::filesystem;
using edgesync::agent::IncomingMessage;
using edgesync::agent::SqliteBuffer;
using edgesync::agent::SqliteBufferOptions;

namespace {

fs::path g_root;

void exercise(const std::string& path) {
  SqliteBufferOptions o;
  o.path = path;
  o.synchronous_full = false;  // no fsync per iteration; the open path is the same
  o.commit_window = 0;
  o.quick_check = true;
  SqliteBuffer buf(o);
  const auto first = buf.first_unacked_seq();
  std::uint64_t after = first > 0 ? first - 1 : 0;
  for (int round = 0; round < 8; ++round) {
    auto recs = buf.read_after(after, 64, 1 << 20);
    if (recs.empty()) break;
    after = recs.back().seq;
  }
  (void)buf.stats();
  (void)buf.next_epoch();
  IncomingMessage m;
  m.device_id = "dev-1";
  m.topic = "sensors/dev-1/t";
  m.payload = "21.5";
  m.received_unix_ns = 1;
  m.qos = 1;
  (void)buf.append(std::move(m));
  buf.ack_through(after);
  buf.stop();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  const char* tmp = std::getenv("TMPDIR");
  g_root = fs::path(tmp ? tmp : "/tmp") / ("edgesync-fuzz-buffer-" + std::to_string(::getpid()));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::error_code ec;
  fs::remove_all(g_root, ec);
  fs::create_directories(g_root);
  const std::string path = (g_root / "buffer.db").string();
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    exercise(path);
  } catch (const std::exception&) {
    // Refused to start (e.g. a valid SQLite file of some other application): acceptable.
  }
  fs::remove_all(g_root, ec);
  return 0;
}
