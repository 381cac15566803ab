#pragma once
#include <string_view>

namespace edgesync {
// MQTT topic filter matching ('+' one level, '#' the rest, including the parent level).
bool topic_matches(std::string_view filter, std::string_view topic);
// Level `index` (0-based) of a topic, or an empty view when the topic has fewer levels.
std::string_view topic_level(std::string_view topic, int index);
// True for a syntactically valid subscription filter.
bool valid_topic_filter(std::string_view filter);
}  // namespace edgesync
