// Checks and escaping for text that came from outside (network peers, files): one home for
// "is this valid UTF-8" and "make this safe to put in a log line".
#pragma once

#include <string>
#include <string_view>

namespace edgesync {

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s);

// Length of the valid UTF-8 sequence starting at s[i] (1-4), or 0 when it is not one.
std::size_t utf8_len(std::string_view s, std::size_t i);

// Whether `s` has a C0 control character or DEL (newlines forge log lines).
bool has_control_chars(std::string_view s);

// `s` made safe for one log line: control characters, DEL, backslash and bytes that are not
// valid UTF-8 become \n \t \r \\ or \xNN; valid multi-byte characters stay. At most `max` input
// bytes are shown (then "...(N bytes)").
std::string printable(std::string_view s, std::size_t max = 256);

}  // namespace edgesync
