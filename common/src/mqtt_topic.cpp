#include "edgesync/common/mqtt_topic.hpp"

namespace edgesync {
namespace {
// Splits off the next level; returns false when `s` is exhausted.
bool next_level(std::string_view& s, std::string_view& level, bool& done) {
  if (done) return false;
  auto slash = s.find('/');
  if (slash == std::string_view::npos) {
    level = s;
    done = true;
  } else {
    level = s.substr(0, slash);
    s.remove_prefix(slash + 1);
  }
  return true;
}
}  // namespace

bool topic_matches(std::string_view filter, std::string_view topic) {
  bool fdone = false, tdone = false;
  std::string_view f, t;
  // Topics starting with '$' are not matched by wildcards at the first level (MQTT 4.7.2).
  if (!topic.empty() && topic[0] == '$' && !filter.empty() &&
      (filter[0] == '+' || filter[0] == '#')) {
    return false;
  }
  while (next_level(filter, f, fdone)) {
    if (f == "#") return true;
    if (!next_level(topic, t, tdone)) return false;
    if (f != "+" && f != t) return false;
  }
  return tdone || !next_level(topic, t, tdone);
}

std::string_view topic_level(std::string_view topic, int index) {
  if (index < 0) return {};
  bool done = false;
  std::string_view level;
  for (int i = 0; next_level(topic, level, done); ++i) {
    if (i == index) return level;
  }
  return {};
}

bool valid_topic_filter(std::string_view filter) {
  if (filter.empty() || filter.size() > 65535) return false;
  bool done = false;
  std::string_view level;
  while (next_level(filter, level, done)) {
    if (level == "#") return done;
    if (level.find('#') != std::string_view::npos) return false;
    if (level != "+" && level.find('+') != std::string_view::npos) return false;
  }
  return true;
}

}  // namespace edgesync
