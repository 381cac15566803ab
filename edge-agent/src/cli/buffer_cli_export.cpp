// `edge-agent buffer export`: streams matching records as JSON lines or CSV.
#include <unistd.h>

#include <chrono>
#include <iostream>

#include "cli/buffer_cli_internal.hpp"
#include "cli/inspect.hpp"
#include "cli/inspect_format.hpp"
#include "cli/time_spec.hpp"
#include "unix_clock.hpp"

namespace edgesync::agent::cli {
namespace {

// "exported 1200 / 5000 records (24%)" on stderr: rewritten in place on a TTY, else one line each.
class Progress {
 public:
  Progress(bool enabled, std::uint64_t total)
      : enabled_(enabled), tty_(::isatty(STDERR_FILENO) == 1), total_(total) {}
  void update(std::uint64_t done) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(500)) return;
    last_ = now;
    print(done);
    shown_ = true;
  }
  void finish(std::uint64_t done) {
    if (!enabled_ || !shown_) return;
    print(done);
    if (tty_) std::cerr << "\n";
  }

 private:
  void print(std::uint64_t done) const {
    const auto pct = total_ ? std::min<std::uint64_t>(100, done * 100 / total_) : 100;
    std::cerr << (tty_ ? "\r" : "") << "exported " << done << " / " << total_ << " records (" << pct
              << "%)" << (tty_ ? "" : "\n") << std::flush;
  }
  bool enabled_, tty_, shown_ = false;
  std::uint64_t total_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace

int run_export(const ExportOpts& o) {
  if (o.format != "jsonl" && o.format != "csv") {
    throw UsageError(o.format.empty() ? "--format is required: jsonl or csv"
                                      : "--format: expected jsonl or csv, got '" + o.format + "'");
  }
  const bool csv = o.format == "csv";
  const auto now = now_unix_ns();
  RecordFilter f;
  if (!o.since.empty()) f.since_ns = parse_time_option("--since", o.since, now);
  if (!o.until.empty()) f.until_ns = parse_time_option("--until", o.until, now);
  if (f.since_ns && f.until_ns && *f.since_ns >= *f.until_ns) {
    throw UsageError("--since (" + iso8601_utc(*f.since_ns) + ") must be before --until (" +
                     iso8601_utc(*f.until_ns) + ")");
  }
  if (!o.device.empty()) f.device = o.device;
  f.dead_letter = o.dead_letter;
  const auto path = resolve_db(o.common);
  const auto db = open_buffer(path, false);

  // Records committed after this count are not exported, so "N / total" ends at 100%.
  const RecordCount count = count_records(db, f);
  f.max_seq = count.max_seq;
  Output out(o.out);
  Progress progress(o.progress || ::isatty(STDERR_FILENO) == 1, count.records);
  std::uint64_t done = 0;
  if (csv) out.write(o.dead_letter ? kCsvHeaderDeadLetter : kCsvHeader);
  if (count.records > 0) {
    RecordPager pager(db, f);
    while (auto r = pager.next()) {
      out.write(csv ? record_to_csv(*r) : record_to_jsonl(*r));
      progress.update(++done);
    }
  }
  out.close();
  progress.finish(done);
  std::cerr << "exported " << done << (o.dead_letter ? " dead letters" : " records") << " to "
            << out.name();
  if (done < count.records) {
    std::cerr << " (" << count.records - done
              << " matching records were deleted meanwhile: acked or purged)";
  }
  std::cerr << "\n";
  return 0;
}

}  // namespace edgesync::agent::cli
