#pragma once
#include <string>
#include <string_view>

namespace edgesync {
// Configures the default spdlog logger: level (trace|debug|info|warn|error), format (text|json).
// Throws std::invalid_argument on an unknown level.
// JSON: one object per line {"ts","level","prog","msg"}; the message is escaped (quotes,
// backslashes, control characters), so any message yields a valid JSON line.
void setup_logging(std::string_view program, std::string_view level, std::string_view format);

// Appends `s` escaped for the inside of a JSON string literal (RFC 8259): `"` `\` and control
// characters (< 0x20, as \n \t ... or \u00XX). Other bytes are copied unchanged.
void json_escape_append(std::string_view s, std::string& out);
inline std::string json_escape(std::string_view s) {
  std::string out;
  json_escape_append(s, out);
  return out;
}
}  // namespace edgesync
