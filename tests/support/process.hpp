// Test support: child processes, free ports, temp dirs, waiting.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace edgesync::test {

// A child process with stdout+stderr appended to `log`. Killed (SIGKILL) when destroyed.
class Process {
 public:
  Process(const std::vector<std::string>& argv, std::filesystem::path log);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  Process(Process&&) noexcept;

  pid_t pid() const { return pid_; }
  bool alive();
  void signal(int sig);
  // Waits for exit; returns the exit code (128+signal when killed), -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  void kill9() {
    signal(9);
    wait(std::chrono::seconds(10));
  }
  // SIGTERM, then SIGKILL after `grace`. Returns the exit code.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(15));
  const std::filesystem::path& log() const { return log_; }
  std::string log_tail(std::size_t bytes = 4000) const;

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
  std::filesystem::path log_;
};

// Runs a command to completion, returning {exit code, stdout}.
std::pair<int, std::string> run_capture(
    const std::vector<std::string>& argv,
    std::chrono::milliseconds timeout = std::chrono::minutes(5));

int free_port();
// Minimal HTTP/1.1 GET on 127.0.0.1: {status code, body}; {0, ""} when nothing answers.
std::pair<int, std::string> http_get(int port, const std::string& path);
bool port_open(int port);
std::filesystem::path make_temp_dir(const std::string& name);
void write_file(const std::filesystem::path& p, const std::string& text);
std::string read_file(const std::filesystem::path& p);
// Polls `pred` every 50 ms until it is true or `timeout` passes.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);
// Directory holding the built binaries (EDGESYNC_BIN_DIR), e.g. bin("edge-agent").
std::string bin(const std::string& name);
std::string env_or(const char* name, const std::string& fallback);

}  // namespace edgesync::test
