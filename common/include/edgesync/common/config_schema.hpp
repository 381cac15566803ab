// One table of config keys per program: it validates the YAML and prints the reference docs, so
// docs and behaviour cannot drift (the librdkafka CONFIGURATION.md approach).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace edgesync::config {

enum class Type {
  kString,      // any scalar text
  kInt,         // integer within [min, max]
  kBool,        // true/false
  kEnum,        // one of `choices` ("a|b|c")
  kStringList,  // sequence of scalars (a single scalar is accepted as a one-element list)
  kStringMap,   // map of scalar -> scalar, free-form keys (e.g. librdkafka properties)
  kObjectList,  // sequence of maps whose keys are declared as "<path>[].<key>"
};

struct KeyDef {
  std::string_view path;  // dotted; members of an object list are "list[].member"
  Type type;
  std::string_view default_value;  // textual default; empty = no default
  bool required = false;
  std::int64_t min = 0;
  std::int64_t max = INT64_MAX;
  std::string_view choices = {};  // for kEnum: "normal|full"
  std::string_view doc = {};
  bool secret = false;  // never logged or printed (the value, not the key)
};

struct Schema {
  std::string_view program;  // "edge-agent"
  std::span<const KeyDef> keys;

  const KeyDef* find(std::string_view path) const;
  // True when `path` is a proper prefix section of some key ("mqtt" for "mqtt.uri").
  bool is_section(std::string_view path) const;
  // Markdown reference: one table per top-level section.
  std::string reference_markdown() const;
};

std::string_view type_name(Type t);

}  // namespace edgesync::config
