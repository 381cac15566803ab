#include "cli/inspect_format.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include "cli/time_spec.hpp"
#include "edgesync/common/text.hpp"

namespace edgesync::agent {
namespace {

constexpr std::string_view kB64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool printable_text(std::string_view s) {
  if (!valid_utf8(s)) return false;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c == 0x7F) return false;
  }
  return true;
}

}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto u = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(in[k]));
  };
  for (; i + 2 < in.size(); i += 3) {
    const std::uint32_t v = u(i) << 16 | u(i + 1) << 8 | u(i + 2);
    for (int sh = 18; sh >= 0; sh -= 6) out += kB64[(v >> sh) & 63];
  }
  if (const std::size_t rest = in.size() - i; rest > 0) {
    const std::uint32_t v = u(i) << 16 | (rest == 2 ? u(i + 1) << 8 : 0);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += rest == 2 ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::array<int, 256> val{};
  val.fill(-1);
  for (std::size_t k = 0; k < kB64.size(); ++k)
    val[static_cast<unsigned char>(kB64[k])] = static_cast<int>(k);
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    std::uint32_t v = 0;
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      if (c == '=' && last && k >= 2 && (k == 3 || in[i + 3] == '=')) {
        ++pad;
        v <<= 6;
        continue;
      }
      const int d = val[static_cast<unsigned char>(c)];
      if (d < 0 || pad > 0) return std::nullopt;
      v = v << 6 | static_cast<std::uint32_t>(d);
    }
    out += static_cast<char>((v >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(v & 0xFF);
  }
  return out;
}

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

nlohmann::ordered_json record_to_json(const StoredRecord& r) {
  nlohmann::ordered_json j{{"seq", r.seq},
                           {"received", iso8601_utc(r.received_unix_ns, 9)},
                           {"received_ns", r.received_unix_ns},
                           {"device_id", r.device_id},
                           {"topic", r.topic},
                           {"qos", r.qos}};
  if (valid_utf8(r.payload))
    j["payload"] = r.payload;
  else
    j["payload_b64"] = base64_encode(r.payload);
  if (r.dead_lettered_unix_ns != 0) {
    j["reason"] = r.dead_letter_reason;
    j["dead_lettered"] = iso8601_utc(r.dead_lettered_unix_ns, 9);
  }
  return j;
}

std::string record_to_jsonl(const StoredRecord& r) {
  // device_id/topic come from MQTT (UTF-8 by spec); replace rather than throw on a bad byte.
  return record_to_json(r).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) +
         "\n";
}

std::string record_to_csv(const StoredRecord& r) {
  const bool text = valid_utf8(r.payload);
  std::string line = std::to_string(r.seq);
  line += ',' + iso8601_utc(r.received_unix_ns, 9);
  line += ',' + std::to_string(r.received_unix_ns);
  line += ',' + csv_field(r.device_id);
  line += ',' + csv_field(r.topic);
  line += ',' + std::to_string(r.qos);
  line += text ? ",utf8," : ",base64,";
  line += text ? csv_field(r.payload) : base64_encode(r.payload);
  if (r.dead_lettered_unix_ns != 0) {
    line += ',' + csv_field(r.dead_letter_reason);
    line += ',' + std::to_string(r.dead_lettered_unix_ns);
  }
  line += "\r\n";
  return line;
}

std::string payload_preview(std::string_view payload, bool hex, std::size_t max_chars) {
  std::string out;
  if (printable_text(payload)) {
    for (const char c : payload) {
      if (c == '\n')
        out += "\\n";
      else if (c == '\r')
        out += "\\r";
      else if (c == '\t')
        out += "\\t";
      else
        out += c;
    }
  } else if (hex) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (const char c : payload) {
      out += kHex[static_cast<unsigned char>(c) >> 4];
      out += kHex[static_cast<unsigned char>(c) & 15];
    }
  } else {
    return "<" + std::to_string(payload.size()) + " bytes binary>";
  }
  if (max_chars == 0) return out;
  // Count characters, not bytes, and never cut inside a UTF-8 sequence.
  std::size_t chars = 0, cut = std::string::npos;
  const std::size_t keep = max_chars > 3 ? max_chars - 3 : max_chars;
  for (std::size_t i = 0; i < out.size(); i += std::max<std::size_t>(1, utf8_len(out, i))) {
    if (chars == keep) cut = i;
    if (++chars > max_chars) {
      out.resize(cut);
      out += "...";
      return out;
    }
  }
  return out;
}

std::string human_bytes(std::uint64_t n) {
  static constexpr std::array<const char*, 5> kUnits{"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(n);
  std::size_t u = 0;
  while (v >= 1000.0 && u + 1 < kUnits.size()) {
    v /= 1000.0;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  return buf;
}

}  // namespace edgesync::agent
