#include <charconv>

#include "edgesync/common/config.hpp"

namespace edgesync::config {

const Values::Entry& Values::at(std::string_view path) const {
  auto it = entries.find(path);
  if (it == entries.end()) {
    // A program asked for a key its own schema does not define: a bug, not a user error.
    throw std::logic_error("config key not in schema or not loaded: " + std::string(path));
  }
  return it->second;
}

bool Values::has(std::string_view path) const {
  return entries.find(path) != entries.end();
}

std::string Values::str(std::string_view path) const {
  return at(path).scalar;
}

std::int64_t Values::integer(std::string_view path) const {
  const auto& s = at(path).scalar;
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);  // validated by the loader
  return v;
}

bool Values::boolean(std::string_view path) const {
  return at(path).scalar == "true";
}

std::vector<std::string> Values::list(std::string_view path) const {
  return at(path).list;
}

std::map<std::string, std::string> Values::map(std::string_view path) const {
  return at(path).map;
}

std::vector<Values> Values::objects(std::string_view path) const {
  return at(path).objects;
}

std::string Values::where(std::string_view path) const {
  auto it = entries.find(path);
  return it == entries.end() ? std::string("(default)") : it->second.where;
}

}  // namespace edgesync::config
