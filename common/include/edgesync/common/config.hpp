// Validated configuration values, loaded from YAML against a Schema.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "edgesync/common/config_schema.hpp"

namespace edgesync::config {

// Thrown at start-up for any config problem. what() names the file, line and key.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Values {
 public:
  std::string str(std::string_view path) const;
  std::int64_t integer(std::string_view path) const;
  bool boolean(std::string_view path) const;
  std::vector<std::string> list(std::string_view path) const;
  std::map<std::string, std::string> map(std::string_view path) const;
  std::vector<Values> objects(std::string_view path) const;
  bool has(std::string_view path) const;  // explicitly set or defaulted

  // Where a value came from ("agent.yaml:12"), for error messages after loading.
  std::string where(std::string_view path) const;

  // Internal representation, filled by the loader.
  struct Entry {
    std::string scalar;
    std::vector<std::string> list;
    std::map<std::string, std::string> map;
    std::vector<Values> objects;
    std::string where;
  };
  std::map<std::string, Entry, std::less<>> entries;

 private:
  const Entry& at(std::string_view path) const;
};

// Parses and validates. Unknown keys, wrong types, out-of-range values, missing required keys and
// YAML syntax errors all throw ConfigError("file:line:col: key 'a.b': what is wrong").
// `hint` ends the message of a file that cannot be read: how the caller's user passes another
// ("pass an existing file with --config FILE").
Values load_file(const Schema& schema, const std::string& path, std::string_view hint = {});
Values load_string(const Schema& schema, const std::string& yaml, const std::string& name);

}  // namespace edgesync::config
