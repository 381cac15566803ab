#include "cli/time_spec.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <limits>
#include <optional>

namespace edgesync::agent {
namespace {

constexpr std::int64_t kNsPerSec = 1'000'000'000;

// Reads exactly `n` digits at `pos`; advances pos.
std::optional<int> digits(std::string_view s, std::size_t& pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  pos += n;
  return v;
}

bool eat(std::string_view s, std::size_t& pos, char c) {
  if (pos < s.size() && s[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

std::optional<std::int64_t> parse_iso(std::string_view s) {
  using namespace std::chrono;
  std::size_t p = 0;
  const auto y = digits(s, p, 4);
  if (!y || !eat(s, p, '-')) return std::nullopt;
  const auto mo = digits(s, p, 2);
  if (!mo || !eat(s, p, '-')) return std::nullopt;
  const auto d = digits(s, p, 2);
  if (!d) return std::nullopt;
  const year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)},
                           day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  std::int64_t secs = 0, frac_ns = 0, offset_s = 0;
  if (p < s.size()) {
    if (!eat(s, p, 'T') && !eat(s, p, 't') && !eat(s, p, ' ')) return std::nullopt;
    const auto h = digits(s, p, 2);
    if (!h || !eat(s, p, ':')) return std::nullopt;
    const auto mi = digits(s, p, 2);
    if (!mi) return std::nullopt;
    int sec = 0;
    if (eat(s, p, ':')) {
      const auto se = digits(s, p, 2);
      if (!se) return std::nullopt;
      sec = *se;
      if (eat(s, p, '.') || eat(s, p, ',')) {
        std::int64_t scale = kNsPerSec / 10;
        std::size_t n = 0;
        while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
          frac_ns += (s[p] - '0') * scale;
          scale /= 10;
          ++p;
          ++n;
        }
        if (n == 0) return std::nullopt;
      }
    }
    if (*h > 23 || *mi > 59 || sec > 60) return std::nullopt;
    secs = *h * 3600 + *mi * 60 + sec;
    if (eat(s, p, 'Z') || eat(s, p, 'z')) {
    } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
      const int sign = s[p++] == '-' ? -1 : 1;
      const auto oh = digits(s, p, 2);
      if (!oh) return std::nullopt;
      eat(s, p, ':');
      const auto om = digits(s, p, 2);
      if (!om || *oh > 23 || *om > 59) return std::nullopt;
      offset_s = sign * (std::int64_t{*oh} * 3600 + std::int64_t{*om} * 60);
    }
  }
  if (p != s.size()) return std::nullopt;
  const std::int64_t days = sys_days{ymd}.time_since_epoch().count();
  return (days * 86400 + secs - offset_s) * kNsPerSec + frac_ns;
}

std::optional<std::int64_t> parse_relative(std::string_view s) {
  if (s.size() < 3 || s[0] != '-') return std::nullopt;
  std::size_t p = 1;
  std::int64_t total_s = 0;
  while (p < s.size()) {
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(s.data() + p, s.data() + s.size(), n);
    if (ec != std::errc() || end == s.data() + s.size() || n < 0) return std::nullopt;
    p = static_cast<std::size_t>(end - s.data());
    std::int64_t unit = 0;
    switch (s[p++]) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = std::int64_t{7} * 86400;
        break;
      default:
        return std::nullopt;
    }
    if (n > std::numeric_limits<std::int64_t>::max() / kNsPerSec / unit) return std::nullopt;
    total_s += n * unit;
  }
  if (total_s > std::numeric_limits<std::int64_t>::max() / kNsPerSec) return std::nullopt;
  return total_s * kNsPerSec;
}

std::optional<std::int64_t> parse_unix_seconds(std::string_view s) {
  std::int64_t secs = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), secs);
  if (ec != std::errc() || secs < 0 || secs > std::numeric_limits<std::int64_t>::max() / kNsPerSec)
    return std::nullopt;
  std::int64_t frac_ns = 0;
  const char* p = end;
  if (p != s.data() + s.size()) {
    if (*p++ != '.') return std::nullopt;
    std::int64_t scale = kNsPerSec / 10;
    if (p == s.data() + s.size()) return std::nullopt;
    for (; p != s.data() + s.size(); ++p) {
      if (*p < '0' || *p > '9') return std::nullopt;
      frac_ns += (*p - '0') * scale;
      scale /= 10;
    }
  }
  return secs * kNsPerSec + frac_ns;
}

}  // namespace

std::int64_t parse_time_spec(std::string_view text, std::int64_t now_ns) {
  std::optional<std::int64_t> v;
  if (text == "now") {
    v = now_ns;
  } else if (!text.empty() && text[0] == '-') {
    if (auto rel = parse_relative(text)) v = now_ns - *rel;
  } else if (text.size() >= 10 && text[4] == '-') {
    v = parse_iso(text);
  } else {
    v = parse_unix_seconds(text);
  }
  if (!v) throw TimeSpecError("cannot parse '" + std::string(text) + "'");
  return *v;
}

std::string iso8601_utc(std::int64_t unix_ns, int frac_digits) {
  using namespace std::chrono;
  const sys_time<nanoseconds> t{nanoseconds{unix_ns}};
  const auto day_start = floor<days>(t);
  const year_month_day ymd{day_start};
  const hh_mm_ss hms{t - day_start};
  char buf[64];
  int n =
      std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                    static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                    static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                    static_cast<int>(hms.seconds().count()));
  std::string out(buf, static_cast<std::size_t>(n));
  if (frac_digits > 0) {
    std::snprintf(buf, sizeof buf, ".%09lld", static_cast<long long>(hms.subseconds().count()));
    out.append(buf, 1 + static_cast<std::size_t>(std::min(frac_digits, 9)));
  }
  out += 'Z';
  return out;
}

}  // namespace edgesync::agent
