// Time arguments of the field-tech CLI (--since, --until, --before) and ISO 8601 output.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace edgesync::agent {

// What parse_time_spec accepts, for error messages and --help.
inline constexpr const char* kTimeSpecFormats =
    "ISO 8601 (2026-11-25T10:00:00Z, 2026-11-25T11:00:00+01:00, 2026-11-25; no zone = UTC), "
    "relative to now (-2h, -30m, -7d, -1h30m; units s m h d w), unix seconds (1764064800) or "
    "'now'";

class TimeSpecError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Parses a time argument into unix nanoseconds; relative specs count back from `now_unix_ns`.
// Throws TimeSpecError("cannot parse 'TEXT'") when the text is none of kTimeSpecFormats.
std::int64_t parse_time_spec(std::string_view text, std::int64_t now_unix_ns);

// "2026-11-25T10:00:00.123Z" (frac_digits 0..9 digits after the second).
std::string iso8601_utc(std::int64_t unix_ns, int frac_digits = 3);

}  // namespace edgesync::agent
