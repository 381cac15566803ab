// sensor-sim: publishes deterministic telemetry to MQTT for N devices, at a rate or flat out,
// over one or more connections. Prints progress and a JSON summary line at the end:
//   {"published":..., "acked":..., "failed":..., "seconds":..., "rate":...}
// "acked" counts messages the broker confirmed (PUBACK for QoS 1), the figure tests compare.
#include <mqtt/async_client.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "edgesync/common/cli.hpp"
#include "payload.hpp"

namespace {

struct Totals {
  std::atomic<std::uint64_t> published{0}, acked{0}, failed{0};
};

class Window : public mqtt::iaction_listener {
 public:
  Window(std::size_t limit, Totals& t) : limit_(limit), totals_(t) {}
  void acquire() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return outstanding_ < limit_; });
    ++outstanding_;
  }
  void wait_all() {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, std::chrono::seconds(30), [&] { return outstanding_ == 0; });
  }
  void on_success(const mqtt::token&) override { done(true); }
  void on_failure(const mqtt::token&) override { done(false); }

 private:
  void done(bool ok) {
    (ok ? totals_.acked : totals_.failed).fetch_add(1);
    {
      std::lock_guard lk(mu_);
      --outstanding_;
    }
    cv_.notify_all();
  }
  std::size_t limit_;
  Totals& totals_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t outstanding_ = 0;
};

struct Options {
  std::string uri = "tcp://127.0.0.1:1883";
  std::string prefix = "sensors";
  int devices = 10;
  int device_offset = 0;
  std::uint64_t count = 1000;  // per device
  std::uint64_t start = 0;     // first n per device
  double rate = 0;             // total messages/s, 0 = flat out
  int qos = 1;
  std::size_t size = 120;
  bool binary = false;
  bool stamp = false;  // payload starts with {"t":<publish unix ns>, (latency benchmarks)
  int connections = 1;
  std::size_t window = 256;
  std::string client_prefix = "sensor-sim";
  bool quiet = false;
  int processes = 1;
};

int run(const Options& o);
int run_processes(const Options& o);

void run_connection(const Options& o, int conn, Totals& totals) {
  mqtt::async_client cli(
      o.uri, o.client_prefix + "-" + std::to_string(conn) + "-" + std::to_string(::getpid()));
  auto opts = mqtt::connect_options_builder()
                  .clean_session(true)
                  .automatic_reconnect(std::chrono::milliseconds(200), std::chrono::seconds(2))
                  .max_inflight(static_cast<int>(o.window))
                  .connect_timeout(std::chrono::seconds(10))
                  .finalize();
  cli.connect(opts)->wait();
  Window win(o.window, totals);
  // Devices of this connection: conn, conn + C, conn + 2C, ...
  std::vector<int> devs;
  for (int d = conn; d < o.devices; d += o.connections) devs.push_back(d + o.device_offset);
  std::vector<std::string> names, topics;
  for (int d : devs) {
    names.push_back(edgesync::sim::device_name(d));
    topics.push_back(edgesync::sim::topic_for(o.prefix, names.back()));
  }
  const auto t0 = std::chrono::steady_clock::now();
  const double per_conn_rate = o.rate / o.connections;
  std::uint64_t sent = 0;
  for (std::uint64_t n = o.start; n < o.start + o.count; ++n) {
    for (std::size_t i = 0; i < devs.size(); ++i) {
      if (per_conn_rate > 0) {
        std::this_thread::sleep_until(
            t0 + std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::duration<double>(static_cast<double>(sent) / per_conn_rate)));
      }
      auto payload = o.stamp ? edgesync::sim::stamped_payload_for(names[i], n, o.size)
                             : edgesync::sim::payload_for(names[i], n, o.size, o.binary);
      win.acquire();
      // While the broker is away (restart), Paho refuses publishes: retry for up to 60 s.
      for (int attempt = 0;; ++attempt) {
        try {
          cli.publish(topics[i], payload.data(), payload.size(), o.qos, false, nullptr, win);
          break;
        } catch (const mqtt::exception& e) {
          if (attempt > 6000) throw;
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
      totals.published.fetch_add(1, std::memory_order_relaxed);
      ++sent;
    }
  }
  win.wait_all();
  cli.disconnect()->wait();
}

}  // namespace

int main(int argc, char** argv) try {
  Options o;
  CLI::App app{"sensor-sim: publish deterministic telemetry to an MQTT broker"};
  app.set_version_flag("--version", std::string("sensor-sim ") + EDGESYNC_VERSION);
  app.add_option("--uri", o.uri, "Broker URI");
  app.add_option("--prefix", o.prefix, "Topic prefix (topic = PREFIX/DEVICE/data)");
  app.add_option("--devices", o.devices, "Number of devices")->check(CLI::PositiveNumber);
  app.add_option("--device-offset", o.device_offset, "First device index");
  app.add_option("--count", o.count, "Messages per device");
  app.add_option("--start", o.start, "First message number per device");
  app.add_option("--rate", o.rate, "Total messages per second (0 = as fast as possible)");
  app.add_option("--qos", o.qos, "QoS")->check(CLI::Range(0, 2));
  app.add_option("--size", o.size, "Payload size in bytes (minimum is the JSON head)");
  app.add_flag("--binary", o.binary, "Pad payloads with non-UTF-8 bytes");
  app.add_flag("--stamp", o.stamp,
               "Start each payload with {\"t\":<publish time, unix ns>, (latency benchmarks)")
      ->excludes("--binary");
  app.add_option("--connections", o.connections, "Parallel MQTT connections")
      ->check(CLI::PositiveNumber);
  app.add_option("--window", o.window, "Unacknowledged publishes per connection");
  app.add_option("--client-prefix", o.client_prefix, "MQTT client id prefix");
  app.add_flag("-q,--quiet", o.quiet, "No progress lines");
  app.add_option("--processes", o.processes,
                 "Publisher processes (devices and rate are split between them). Paho C runs "
                 "all clients of a process on shared threads, so one process tops out near "
                 "10k msg/s; several processes outrun one broker")
      ->check(CLI::Range(1, 64));
  if (const auto done = edgesync::cli::parse(app, "sensor-sim", argc, argv)) return *done;
  o.connections = std::min(o.connections, o.devices);
  o.processes = std::min(o.processes, o.devices);
  return o.processes > 1 ? run_processes(o) : run(o);
} catch (const std::exception& e) {
  // Only what escapes the handling above (e.g. CLI11 set-up): a message, not std::terminate.
  std::cerr << "sensor-sim: " << e.what() << "\n";
  return 1;
}

namespace {

int run(const Options& o) {
  Totals totals;
  const auto t0 = std::chrono::steady_clock::now();
  std::atomic<bool> done{false};
  std::thread progress([&] {
    const std::uint64_t total = o.count * static_cast<std::uint64_t>(o.devices);
    while (!done && !o.quiet) {
      for (int i = 0; i < 20 && !done; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!done) {
        std::cerr << "sensor-sim: " << totals.acked.load() << "/" << total << " acked\n";
      }
    }
  });
  int rc = 0;
  std::vector<std::thread> conns;
  conns.reserve(static_cast<std::size_t>(o.connections));
  std::atomic<int> errors{0};
  for (int c = 0; c < o.connections; ++c) {
    conns.emplace_back([&, c] {
      try {
        run_connection(o, c, totals);
      } catch (const std::exception& e) {
        std::cerr << "sensor-sim: connection " << c << ": " << e.what() << "\n";
        errors.fetch_add(1);
      }
    });
  }
  for (auto& t : conns) t.join();
  done = true;
  progress.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (errors) rc = 1;
  std::cout << "{\"published\":" << totals.published << ",\"acked\":" << totals.acked
            << ",\"failed\":" << totals.failed << ",\"seconds\":" << secs
            << ",\"rate\":" << (secs > 0 ? static_cast<double>(totals.acked) / secs : 0) << "}"
            << std::endl;
  return rc;
}

// Forks one publisher per share of the devices (before any Paho state exists), each writing its
// JSON summary into a pipe, and prints the sum. The rate is the total acked over the wall time.
int run_processes(const Options& o) {
  const auto t0 = std::chrono::steady_clock::now();
  struct Child {
    pid_t pid;
    int fd;
  };
  std::vector<Child> children;
  int first = 0;
  for (int p = 0; p < o.processes; ++p) {
    const int share = o.devices / o.processes + (p < o.devices % o.processes ? 1 : 0);
    int fds[2];
    if (::pipe(fds) != 0) {
      std::perror("sensor-sim: pipe");
      return 1;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("sensor-sim: fork");
      return 1;
    }
    if (pid == 0) {
      ::close(fds[0]);
      ::dup2(fds[1], STDOUT_FILENO);
      Options c = o;
      c.processes = 1;
      c.devices = share;
      c.device_offset = o.device_offset + first;
      c.rate = o.rate * share / o.devices;
      c.connections = std::max(1, std::min(share, o.connections / o.processes));
      c.client_prefix = o.client_prefix + "-p" + std::to_string(p);
      c.quiet = o.quiet || p > 0;  // one progress line stream
      std::_Exit(run(c));
    }
    ::close(fds[1]);
    children.push_back({pid, fds[0]});
    first += share;
  }
  unsigned long long published = 0, acked = 0, failed = 0;
  int rc = 0;
  for (auto& c : children) {
    std::string out;
    char buf[512];
    ssize_t n;
    while ((n = ::read(c.fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<std::size_t>(n));
    ::close(c.fd);
    int status = 0;
    ::waitpid(c.pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) rc = 1;
    unsigned long long p = 0, a = 0, f = 0;
    if (std::sscanf(out.c_str(), R"({"published":%llu,"acked":%llu,"failed":%llu)", &p, &a, &f) !=
        3) {
      std::cerr << "sensor-sim: a publisher process gave no summary\n";
      rc = 1;
    }
    published += p;
    acked += a;
    failed += f;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "{\"published\":" << published << ",\"acked\":" << acked << ",\"failed\":" << failed
            << ",\"seconds\":" << secs
            << ",\"rate\":" << (secs > 0 ? static_cast<double>(acked) / secs : 0) << "}"
            << std::endl;
  return rc;
}

}  // namespace
