#include "edgesync/common/secrets.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace edgesync {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read file '" + path +
                             "': " + std::generic_category().message(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string read_secret_file(const std::string& path) {
  std::string s = read_text_file(path);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string resolve_secret(std::string_view spec) {
  if (spec.starts_with("file:")) return read_secret_file(std::string(spec.substr(5)));
  if (spec.starts_with("env:")) {
    std::string name(spec.substr(4));
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) throw std::runtime_error("environment variable '" + name + "' is not set");
    return v;
  }
  return std::string(spec);
}

}  // namespace edgesync
