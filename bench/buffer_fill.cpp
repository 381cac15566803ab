// bench-buffer-fill: writes N records straight into an agent buffer file (the same SqliteBuffer
// the agent uses), so the backlog-drain benchmark (P2) starts from a real 1,000,000-record
// backlog without spending minutes publishing it through MQTT first. Payloads are the
// simulator's (sensors/dev-XXXX/data, `--size` bytes), spread over `--devices` devices.
//   bench-buffer-fill --db FILE --count N [--devices 10] [--size 200]
#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>

#include "buffer/sqlite_buffer.hpp"
#include "payload.hpp"

int main(int argc, char** argv) try {
  std::string db;
  std::uint64_t count = 1000000;
  int devices = 10;
  std::size_t size = 200;
  CLI::App app{"Fill an edge-agent buffer with simulator records (benchmarks)"};
  app.add_option("--db", db, "Buffer database file (created)")->required();
  app.add_option("--count", count, "Records to append");
  app.add_option("--devices", devices, "Devices")->check(CLI::PositiveNumber);
  app.add_option("--size", size, "Payload bytes");
  CLI11_PARSE(app, argc, argv);

  using namespace edgesync::agent;
  SqliteBufferOptions o;
  o.path = db;
  o.synchronous_full = false;
  o.commit_window = 100000;
  o.max_commit_batch = 20000;
  o.quick_check = false;
  SqliteBuffer buf(o);
  std::vector<std::string> names, topics;
  for (int d = 0; d < devices; ++d) {
    names.push_back(edgesync::sim::device_name(d));
    topics.push_back(edgesync::sim::topic_for("sensors", names.back()));
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < count; ++i) {
    const auto d = static_cast<std::size_t>(i % static_cast<std::uint64_t>(devices));
    IncomingMessage m;
    m.device_id = names[d];
    m.topic = topics[d];
    m.payload = edgesync::sim::payload_for(names[d], i / static_cast<std::uint64_t>(devices), size);
    m.received_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    m.qos = 1;
    if (buf.append(std::move(m)) != AppendStatus::kAccepted) {
      std::cerr << "bench-buffer-fill: append refused at record " << i << "\n";
      return 1;
    }
    if ((i + 1) % 200000 == 0)
      std::cerr << "bench-buffer-fill: " << (i + 1) << "/" << count << "\n";
  }
  buf.stop();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "{\"records\":" << buf.stats().committed_total << ",\"seconds\":" << s << "}\n";
  return buf.stats().committed_total == count ? 0 : 1;
} catch (const std::exception& e) {
  // Only what escapes the handling above (e.g. CLI11 set-up): a message, not std::terminate.
  std::cerr << "bench-buffer-fill: " << e.what() << "\n";
  return 1;
}
