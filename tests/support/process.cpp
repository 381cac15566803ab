#include "process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

extern char** environ;

namespace edgesync::test {

namespace {
pid_t spawn(const std::vector<std::string>& argv, int out_fd) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    throw std::runtime_error("cannot start " + argv[0] + ": " +
                             std::generic_category().message(rc));
  return pid;
}
}  // namespace

Process::Process(const std::vector<std::string>& argv, std::filesystem::path log)
    : log_(std::move(log)) {
  int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open log " + log_.string());
  pid_ = spawn(argv, fd);
  ::close(fd);
}

Process::Process(Process&& o) noexcept
    : pid_(o.pid_), status_(o.status_), reaped_(o.reaped_), log_(std::move(o.log_)) {
  o.pid_ = -1;
  o.reaped_ = true;
}

Process::~Process() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::seconds(10));
  }
}

bool Process::alive() {
  if (reaped_ || pid_ <= 0) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = st;
    return false;
  }
  return true;
}

void Process::signal(int sig) {
  if (!reaped_ && pid_ > 0) ::kill(pid_, sig);
}

int Process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (alive()) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
  return -1;
}

int Process::stop(std::chrono::milliseconds grace) {
  signal(SIGTERM);
  int rc = wait(grace);
  if (rc == -1) {
    signal(SIGKILL);
    rc = wait(std::chrono::seconds(10));
  }
  return rc;
}

std::string Process::log_tail(std::size_t bytes) const {
  std::string s = read_file(log_);
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

std::pair<int, std::string> run_capture(const std::vector<std::string>& argv,
                                        std::chrono::milliseconds timeout) {
  static std::atomic<int> counter{0};
  auto out = std::filesystem::temp_directory_path() /
             ("edgesync-cap-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  int rc;
  {
    Process p(argv, out);
    rc = p.wait(timeout);
    if (rc == -1) p.signal(SIGKILL);
  }
  std::string text = read_file(out);
  std::filesystem::remove(out);
  return {rc, text};
}

namespace {

// The start of the kernel's ephemeral range (ip_local_port_range): client sockets take their
// local ports from there on.
int ephemeral_low() {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  int lo = 32768;
  f >> lo;
  return lo;
}

bool can_bind(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  // No SO_REUSEADDR: the bind fails while any socket holds the port, a client's included.
  const bool ok = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(s);
  return ok;
}

}  // namespace

// A port below the ephemeral range. A server a test stops and starts again on the same port (Kafka,
// Mosquitto, the hub) must not find it taken by a client socket that the kernel gave that port as
// its local end meanwhile: CI lost a run to "Kafka: Address already in use" on such a port.
int free_port() {
  const int lo = ephemeral_low();
  if (lo > 11000) {
    thread_local std::mt19937 rng{std::random_device{}()};
    std::uniform_int_distribution<int> pick(10000, lo - 1);
    for (int i = 0; i < 500; ++i) {
      const int port = pick(rng);
      if (can_bind(port)) return port;
    }
  }
  int s = ::socket(AF_INET, SOCK_STREAM, 0);  // no room below the range: let the kernel pick
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  const bool ok = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
                  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(s);
  if (!ok) throw std::runtime_error("free_port: cannot bind a loopback port");
  return ntohs(a.sin_port);
}

std::pair<int, std::string> http_get(int port, const std::string& path) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(s);
    return {0, ""};
  }
  const std::string req =
      "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  (void)!::send(s, req.data(), req.size(), MSG_NOSIGNAL);  // no SIGPIPE if the server just died
  std::string resp;
  char buf[4096];
  for (ssize_t n; (n = ::read(s, buf, sizeof(buf))) > 0;) resp.append(buf, static_cast<size_t>(n));
  ::close(s);
  int code = 0;
  if (resp.size() > 12) code = std::atoi(resp.c_str() + 9);
  auto body = resp.find("\r\n\r\n");
  return {code, body == std::string::npos ? "" : resp.substr(body + 4)};
}

bool port_open(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(s);
  return ok;
}

std::filesystem::path make_temp_dir(const std::string& name) {
  auto base = std::filesystem::path(env_or("EDGESYNC_TEST_TMP", EDGESYNC_TEST_TMP_DEFAULT));
  std::random_device rd;
  auto p = base / ("edgesync-" + name + "-" + std::to_string(::getpid()) + "-" +
                   std::to_string(rd() % 100000));
  std::filesystem::create_directories(p);
  return p;
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream o(p, std::ios::binary | std::ios::trunc);
  o << text;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

std::string bin(const std::string& name) {
  const std::string dir = env_or("EDGESYNC_BIN_DIR", EDGESYNC_BIN_DIR_DEFAULT);
  return dir + "/" + name;
}

}  // namespace edgesync::test
