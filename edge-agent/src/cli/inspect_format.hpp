// Encodings used by the field-tech CLI: UTF-8 check, base64, CSV (RFC 4180), JSON records and
// one-line payload previews.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "record.hpp"

namespace edgesync::agent {

std::string base64_encode(std::string_view bytes);                // standard alphabet, padded
std::optional<std::string> base64_decode(std::string_view text);  // nullopt when malformed

// One CSV field: quoted (with "" for ") when it contains , " CR or LF, else as is.
std::string csv_field(std::string_view s);

// Export formats. JSON: {"seq","received","received_ns","device_id","topic","qos"} plus
// "payload" (valid UTF-8) or "payload_b64" (anything else), and for a dead letter
// (dead_lettered_unix_ns != 0) "reason" and "dead_lettered". CSV: kCsvHeader columns
// (kCsvHeaderDeadLetter for dead letters), encoding is "utf8" or "base64"; lines end with CRLF.
nlohmann::ordered_json record_to_json(const StoredRecord& r);  // keys in the order above
std::string record_to_jsonl(const StoredRecord& r);            // one line, with '\n'
inline constexpr std::string_view kCsvHeader =
    "seq,received,received_ns,device_id,topic,qos,encoding,payload\r\n";
inline constexpr std::string_view kCsvHeaderDeadLetter =
    "seq,received,received_ns,device_id,topic,qos,encoding,payload,reason,dead_lettered_ns\r\n";
std::string record_to_csv(const StoredRecord& r);  // one line, with CRLF

// A payload for a one-line listing: printable UTF-8 as is (\n \r \t escaped), anything else as
// "<N bytes binary>" or, with `hex`, lowercase hex. Cut to `max_chars` characters with "..."
// when max_chars > 0.
std::string payload_preview(std::string_view payload, bool hex, std::size_t max_chars);

// "5.6 MB", "812 B" (decimal units).
std::string human_bytes(std::uint64_t n);

}  // namespace edgesync::agent
