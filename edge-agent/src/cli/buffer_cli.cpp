#include "cli/buffer_cli.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>

#include "agent_config.hpp"
#include "cli/buffer_cli_internal.hpp"
#include "cli/inspect.hpp"
#include "cli/inspect_format.hpp"
#include "cli/time_spec.hpp"
#include "edgesync/common/shutdown.hpp"
#include "unix_clock.hpp"

namespace edgesync::agent {
namespace cli {

constexpr const char* kDefaultConfig = "/etc/edgesync/edge-agent.yaml";

std::string resolve_db(const CommonOpts& c) {
  if (!c.db.empty()) {
    if (!c.lane.empty())
      throw UsageError("--lane picks a file of --config; with --db, name the file");
    return c.db;
  }
  std::string cfg = c.config;
  if (cfg.empty()) {
    if (!std::filesystem::exists(kDefaultConfig)) {
      throw UsageError(
          std::string("pass --config FILE (agent config, to find buffer.path) or --db FILE "
                      "(the buffer database); the default config ") +
          kDefaultConfig + " does not exist");
    }
    cfg = kDefaultConfig;
  }
  const auto agent = load_agent_config(
      cfg, "pass the agent config with --config FILE, or the buffer with --db FILE");
  if (c.lane.empty() || c.lane == "default") return agent.buffer.path;
  std::string names = "default";
  for (const auto& l : agent.lanes) {
    if (l.name == c.lane) return l.buffer.path;
    names += ", " + l.name;
  }
  throw UsageError("--lane " + c.lane + ": " + cfg + " has no such lane (lanes: " + names + ")");
}

std::int64_t parse_time_option(const char* option, const std::string& text, std::int64_t now_ns) {
  try {
    return parse_time_spec(text, now_ns);
  } catch (const TimeSpecError& e) {
    throw UsageError(std::string(option) + ": " + e.what() + "; accepted: " + kTimeSpecFormats);
  }
}

Output::Output(const std::string& path) : name_(path.empty() || path == "-" ? "stdout" : path) {
  if (path.empty() || path == "-") {
    f_ = stdout;
    return;
  }
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_)
    throw std::runtime_error("cannot write '" + path +
                             "': " + std::generic_category().message(errno));
  owned_ = true;
}

Output::~Output() {
  if (owned_ && f_) std::fclose(f_);
}

void Output::write(std::string_view s) {
  if (std::fwrite(s.data(), 1, s.size(), f_) != s.size()) fail(errno);
}

void Output::flush() {
  if (std::fflush(f_) != 0) fail(errno);
}

void Output::close() {
  if (!f_) return;
  flush();
  if (owned_) {
    std::FILE* f = std::exchange(f_, nullptr);
    if (std::fclose(f) != 0) fail(errno);
  }
}

int Output::fd() const {
  return f_ ? ::fileno(f_) : -1;
}

void Output::fail(int err) const {
  throw WriteError("writing " + name_ + " failed: " + std::generic_category().message(err));
}

namespace {

struct TailOpts {
  CommonOpts common;
  std::string n = "10";
  bool follow = false, hex = false, full = false, dead_letter = false;
};

struct PurgeOpts {
  CommonOpts common;
  std::string before, device;
  bool yes = false, dead_letter = false;
};

struct Options {
  CommonOpts status;
  TailOpts tail;
  ExportOpts exp;
  PurgeOpts purge;
};

std::size_t terminal_width() {
  winsize ws{};
  if (::isatty(STDOUT_FILENO) == 1 && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  return 200;
}

std::string tail_line(const StoredRecord& r, bool hex, std::size_t width) {
  std::string line = std::to_string(r.seq) + "  " + iso8601_utc(r.received_unix_ns) + "  " +
                     r.device_id + "  " + r.topic + "  ";
  const std::size_t room =
      width == 0 ? 0 : std::max<std::size_t>(width > line.size() ? width - line.size() : 0, 24);
  if (r.dead_lettered_unix_ns != 0) {
    const std::string why = "  [dead letter " + iso8601_utc(r.dead_lettered_unix_ns) + ": " +
                            r.dead_letter_reason + "]";
    return line + payload_preview(r.payload, hex, room > why.size() ? room - why.size() : 24) +
           why + "\n";
  }
  return line + payload_preview(r.payload, hex, room) + "\n";
}

// True when the reader of a pipe on stdout went away (nothing to write needed to notice).
bool stdout_closed(const Output& out) {
  pollfd p{out.fd(), 0, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0;
}

int run_status(const CommonOpts& c) {
  const auto s = read_buffer_status(resolve_db(c));
  Output out("");
  out.write(c.json
                ? to_json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"
                : to_text(s));
  out.flush();
  return 0;
}

int run_tail(const TailOpts& o) {
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(o.n.data(), o.n.data() + o.n.size(), n);
  if (ec != std::errc() || end != o.n.data() + o.n.size()) {
    throw UsageError("-n: expected a number of records (0 or more), got '" + o.n + "'");
  }
  const auto path = resolve_db(o.common);
  // Blocks SIGINT/SIGTERM (taken with wait_for) and ignores SIGPIPE: a closed stdout becomes a
  // write error. Single-threaded here, so the mask applies to the whole process.
  std::optional<ShutdownSignal> signals;
  if (o.follow) signals.emplace();
  const auto db = open_buffer(path, false);
  Output out("");
  const std::size_t width = o.full || o.common.json ? 0 : terminal_width();
  auto print = [&](const StoredRecord& r) {
    out.write(o.common.json ? record_to_jsonl(r) : tail_line(r, o.hex, width));
  };
  std::uint64_t last = 0;
  for (const auto& r : tail_records(db, n, o.dead_letter)) {
    print(r);
    last = r.seq;
  }
  out.flush();
  if (!o.follow) return 0;
  RecordFilter all;
  all.dead_letter = o.dead_letter;
  if (last == 0) last = count_records(db, all).max_seq;
  RecordPager pager(db, all, last, 500);
  try {
    for (;;) {
      while (auto r = pager.next()) print(*r);
      out.flush();
      if (stdout_closed(out)) return 0;
      if (signals->wait_for(std::chrono::milliseconds(500))) return 0;
    }
  } catch (const WriteError&) {
    return 0;  // the reader went away (e.g. `| head`): the normal end of following
  }
}

int run_purge(const PurgeOpts& o) {
  if (o.before.empty() && o.device.empty() && !o.dead_letter) {
    throw UsageError("say what to delete: --before T and/or --device D, or --dead-letter");
  }
  RecordFilter f;
  f.dead_letter = o.dead_letter;
  if (!o.before.empty()) f.until_ns = parse_time_option("--before", o.before, now_unix_ns());
  if (!o.device.empty()) f.device = o.device;
  const auto path = resolve_db(o.common);
  const RecordCount c = count_records(open_buffer(path, false), f);
  if (c.records == 0) {
    std::cout << "nothing to delete: no record matches\n";
    return 0;
  }
  f.max_seq = c.max_seq;  // records arriving from now on are never deleted by this purge
  const std::string what = std::to_string(c.records) +
                           (o.dead_letter ? " dead letters (" : " records (") +
                           human_bytes(c.payload_bytes) + ")";
  if (!o.yes) {
    if (::isatty(STDIN_FILENO) != 1) {
      throw UsageError("refusing to delete " + what +
                       " without confirmation: stdin is not a terminal; pass --yes");
    }
    std::cerr << "Delete " << what << "? [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes" && answer != "YES") {
      std::cerr << "aborted, nothing deleted\n";
      return 1;
    }
  }
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  const auto deleted = purge_records(path, f, 5000, [&](std::uint64_t total) {
    if (tty) std::cerr << "\rdeleted " << total << " / " << c.records << std::flush;
  });
  if (tty) std::cerr << "\r";
  std::cout << "deleted " << deleted
            << (o.dead_letter ? " dead letters (counted in meta dead_letter_purged)"
                              : " records (counted in meta dropped_purge)");
  if (deleted < c.records) std::cout << "; " << c.records - deleted << " were acked meanwhile";
  std::cout << "\n";
  return 0;
}

// Runs one command; maps exceptions to exit codes and hands non-zero ones to CLI11_PARSE.
void run_command(const CLI::App* sc, const std::function<int()>& fn) {
  int rc = 0;
  const std::string name = "edge-agent buffer " + sc->get_name();
  try {
    if (const auto extra = sc->remaining(); !extra.empty()) {
      std::string args;
      for (const auto& a : extra) args += (args.empty() ? "" : " ") + a;
      throw UsageError("unexpected argument(s): " + args + " (see " + name + " --help)");
    }
    rc = fn();
  } catch (const UsageError& e) {
    std::cerr << name << ": " << e.what() << "\n";
    rc = 2;
  } catch (const config::ConfigError& e) {
    std::cerr << "config error: " << e.what() << "\n";
    rc = 2;
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << "\n";
    rc = 1;
  }
  std::cout.flush();
  if (rc != 0) throw CLI::RuntimeError(rc);
}

CLI::App* add_command(CLI::App* parent, const char* name, const char* help, CommonOpts& c,
                      bool json) {
  auto* sc = parent->add_subcommand(name, help);
  sc->allow_extras();  // reported by run_command as a usage error (exit 2)
  sc->add_option("-c,--config", c.config, "Agent config (to find buffer.path)")->type_name("FILE");
  sc->add_option("--db", c.db, "Buffer database file (instead of --config)")->type_name("FILE");
  sc->add_option("--lane", c.lane,
                 "Priority lane of --config (lanes[].name; default: the default lane)")
      ->type_name("NAME");
  if (json) sc->add_flag("--json", c.json, "JSON output");
  return sc;
}

}  // namespace
}  // namespace cli

void add_buffer_commands(CLI::App& app) {
  using namespace cli;
  auto opts = std::make_shared<Options>();
  auto* buf = app.add_subcommand(
      "buffer", "Inspect and maintain the local buffer (safe while the agent runs)");
  buf->callback([buf] {
    if (buf->get_subcommands().empty()) {
      std::cerr << buf->help() << "edge-agent buffer: a command is required\n";
      throw CLI::RuntimeError(2);
    }
  });

  auto* status =
      add_command(buf, "status", "Records, bytes, sequence range, ages, drops, agent state",
                  opts->status, true);
  status->callback(
      [status, opts] { run_command(status, [&] { return run_status(opts->status); }); });

  auto& t = opts->tail;
  auto* tail = add_command(buf, "tail", "Last records in sequence order", t.common, true);
  tail->add_option("-n", t.n, "How many records (default 10)")->type_name("N");
  tail->add_flag("-f,--follow", t.follow, "Keep printing new records until Ctrl-C");
  tail->add_flag("--hex", t.hex, "Show binary payloads as hex instead of <N bytes binary>");
  tail->add_flag("--full", t.full, "Do not cut payloads to the terminal width");
  tail->add_flag("--dead-letter", t.dead_letter,
                 "The dead-letter table (records the hub refused for good, with the reason)");
  tail->callback([tail, opts] { run_command(tail, [&] { return run_tail(opts->tail); }); });

  auto& e = opts->exp;
  auto* exp = add_command(buf, "export", "Write records as JSON lines or CSV", e.common, false);
  exp->add_option("--format", e.format, "jsonl or csv (required)")->type_name("jsonl|csv");
  exp->add_option("--since", e.since, "Only records received at or after T")->type_name("T");
  exp->add_option("--until", e.until, "Only records received before T")->type_name("T");
  exp->add_option("--device", e.device, "Only records of this device id")->type_name("D");
  exp->add_option("-o,--out", e.out, "Output file (default stdout)")->type_name("FILE");
  exp->add_flag("--progress", e.progress, "Progress on stderr also when it is not a terminal");
  exp->add_flag("--dead-letter", e.dead_letter,
                "Export the dead-letter table (adds reason and dead_lettered columns)");
  exp->footer(std::string("T: ") + kTimeSpecFormats);
  exp->callback([exp, opts] { run_command(exp, [&] { return run_export(opts->exp); }); });

  auto& p = opts->purge;
  auto* purge =
      add_command(buf, "purge", "Delete records (counted in meta dropped_purge)", p.common, false);
  purge->add_option("--before", p.before, "Delete records received before T")->type_name("T");
  purge->add_option("--device", p.device, "Delete records of this device id")->type_name("D");
  purge->add_flag("--dead-letter", p.dead_letter,
                  "Delete from the dead-letter table (all of it unless --before/--device; "
                  "counted in meta dead_letter_purged)");
  purge->add_flag("-y,--yes", p.yes, "Do not ask for confirmation");
  purge->footer(std::string("T: ") + kTimeSpecFormats +
                "\nWithout --yes it asks for confirmation, which needs a terminal.");
  purge->callback([purge, opts] { run_command(purge, [&] { return run_purge(opts->purge); }); });
}

}  // namespace edgesync::agent
