// Shared pieces of the buffer CLI commands (not a public interface).
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace edgesync::agent::cli {

// A mistake in the command line: exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Writing the output failed (disk full, reader of the pipe gone: EPIPE with SIGPIPE ignored).
class WriteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CommonOpts {
  std::string config, db, lane;  // lane: a `lanes[].name` of the config ("" = default lane)
  bool json = false;
};

struct ExportOpts {
  CommonOpts common;
  std::string format, since, until, device, out;
  bool progress = false, dead_letter = false;
};

// --db, else buffer.path (or with --lane that lane's file) of --config, else of
// /etc/edgesync/edge-agent.yaml when it exists.
std::string resolve_db(const CommonOpts& c);

// Parses a time option or throws UsageError naming the option and the accepted formats.
std::int64_t parse_time_option(const char* option, const std::string& text, std::int64_t now_ns);

// stdout (path "" or "-") or a file, written through stdio; every failure throws WriteError.
class Output {
 public:
  explicit Output(const std::string& path);
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  void write(std::string_view s);
  void flush();
  void close();  // flushes and closes a file (reports late write errors); idempotent
  const std::string& name() const { return name_; }
  int fd() const;

 private:
  [[noreturn]] void fail(int err) const;
  std::FILE* f_ = nullptr;
  bool owned_ = false;
  std::string name_;
};

int run_export(const ExportOpts& o);

}  // namespace edgesync::agent::cli
