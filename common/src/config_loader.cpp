#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "edgesync/common/config.hpp"

namespace edgesync::config {
namespace {

struct Ctx {
  const Schema& schema;
  std::string file;
};

std::string location(const Ctx& c, const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.is_null() || m.line < 0) return c.file;
  return c.file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

[[noreturn]] void fail(const Ctx& c, const YAML::Node& n, std::string_view path,
                       const std::string& what) {
  throw ConfigError(location(c, n) + ": key '" + std::string(path) + "': " + what);
}

std::string join(std::string_view base, std::string_view key) {
  if (base.empty()) return std::string(key);
  return std::string(base) + "." + std::string(key);
}

std::string lower(std::string s) {
  std::ranges::transform(s, s.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return s;
}

// Levenshtein distance (insert, delete, substitute: 1 each).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string closest_key(const Schema& s, std::string_view full) {
  // A typo: the key nearest by edit distance, when it is near enough (a third of the key's
  // length, at least 2) to be what was meant.
  const std::string_view* best = nullptr;
  std::size_t best_d = std::max<std::size_t>(2, full.size() / 3) + 1;
  for (const auto& k : s.keys) {
    const std::size_t d = edit_distance(full, k.path);
    if (d < best_d) {
      best_d = d;
      best = &k.path;
    }
  }
  if (best != nullptr) return "'" + std::string(*best) + "'";
  // Else a key with the same last component (a key put in the wrong section), or the
  // section's keys.
  auto last = full.substr(full.rfind('.') + 1);
  for (const auto& k : s.keys) {
    auto klast = k.path.substr(k.path.rfind('.') + 1);
    if (klast == last) return "'" + std::string(k.path) + "'";
  }
  auto parent = full.substr(0, full.rfind('.') == std::string_view::npos ? 0 : full.rfind('.'));
  std::string keys;
  for (const auto& k : s.keys) {
    auto kparent =
        k.path.substr(0, k.path.rfind('.') == std::string_view::npos ? 0 : k.path.rfind('.'));
    if (kparent == parent && k.path.find("[]", parent.size() + 1) == std::string_view::npos) {
      auto name = k.path.substr(parent.empty() ? 0 : parent.size() + 1);
      if (name.find('.') != std::string_view::npos) name = name.substr(0, name.find('.'));
      if (keys.find(std::string(name)) == std::string::npos) {
        keys += keys.empty() ? "" : ", ";
        keys += name;
      }
    }
  }
  return keys.empty() ? std::string() : "one of: " + keys;
}

std::string scalar_of(const Ctx& c, const YAML::Node& n, std::string_view path) {
  if (n.IsNull()) fail(c, n, path, "has no value");
  if (!n.IsScalar()) fail(c, n, path, "expected a single value, found a list or map");
  return n.Scalar();
}

void store_leaf(const Ctx& c, const KeyDef& def, const YAML::Node& n, std::string_view full,
                Values::Entry& e);

Values walk_object(const Ctx& c, const YAML::Node& map, std::string_view base);

void walk(const Ctx& c, const YAML::Node& node, std::string_view base, std::string_view rel,
          Values& out) {
  // `base` is the schema prefix of `out` ("" or "kafka.routes[]"); `rel` the path inside it.
  if (!node.IsMap()) {
    fail(c, node, rel.empty() ? std::string_view("(top level)") : rel,
         "expected a map of keys, found " + std::string(node.IsSequence() ? "a list" : "a value"));
  }
  for (const auto& kv : node) {
    const YAML::Node& k = kv.first;
    const YAML::Node& val = kv.second;
    if (!k.IsScalar()) fail(c, k, rel, "map keys must be plain names");
    const std::string key = k.Scalar();
    const std::string rel_key = join(rel, key);
    const std::string full = join(base, rel_key);
    if (const KeyDef* def = c.schema.find(full)) {
      Values::Entry e;
      e.where = location(c, val);
      if (def->type == Type::kObjectList) {
        const YAML::Node& seq = val;
        if (!seq.IsSequence()) fail(c, seq, full, "expected a list of maps");
        for (const auto& item : seq) e.objects.push_back(walk_object(c, item, full + "[]"));
      } else {
        store_leaf(c, *def, val, full, e);
      }
      out.entries[rel_key] = std::move(e);
    } else if (c.schema.is_section(full)) {
      walk(c, val, base, rel_key, out);
    } else {
      auto hint = closest_key(c.schema, full);
      fail(c, k, full,
           "unknown key" + (hint.empty() ? std::string() : " (did you mean " + hint + "?)"));
    }
  }
}

void apply_defaults(const Ctx& c, const YAML::Node& where, std::string_view base, Values& out) {
  const std::string prefix = base.empty() ? std::string() : std::string(base) + ".";
  for (const auto& k : c.schema.keys) {
    if (!k.path.starts_with(prefix)) continue;
    auto rel = k.path.substr(prefix.size());
    if (rel.find("[]") != std::string_view::npos) continue;  // member of a nested object list
    if (out.entries.count(rel)) continue;
    if (k.required) fail(c, where, k.path, "is required but missing");
    if (k.default_value.empty() && k.type != Type::kStringList && k.type != Type::kStringMap &&
        k.type != Type::kObjectList && k.type != Type::kString) {
      continue;
    }
    Values::Entry e;
    e.where = "(default)";
    if (k.type == Type::kStringList) {
      std::stringstream ss{std::string(k.default_value)};
      for (std::string item; std::getline(ss, item, ',');) {
        if (!item.empty()) e.list.push_back(item);
      }
    } else {
      e.scalar = std::string(k.default_value);
    }
    out.entries[std::string(rel)] = std::move(e);
  }
}

Values walk_object(const Ctx& c, const YAML::Node& map, std::string_view base) {
  Values v;
  walk(c, map, base, "", v);
  apply_defaults(c, map, base, v);
  return v;
}

void store_leaf(const Ctx& c, const KeyDef& def, const YAML::Node& n, std::string_view full,
                Values::Entry& e) {
  switch (def.type) {
    case Type::kString:
      e.scalar = scalar_of(c, n, full);
      return;
    case Type::kInt: {
      const std::string s = scalar_of(c, n, full);
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || p != s.data() + s.size()) {
        fail(c, n, full, "expected an integer, got '" + s + "'");
      }
      if (v < def.min || v > def.max) {
        fail(c, n, full,
             "value " + s + " is out of range [" + std::to_string(def.min) + ", " +
                 (def.max == INT64_MAX ? std::string("max") : std::to_string(def.max)) + "]");
      }
      e.scalar = std::to_string(v);
      return;
    }
    case Type::kBool: {
      const std::string s = lower(scalar_of(c, n, full));
      if (s == "true" || s == "yes" || s == "on")
        e.scalar = "true";
      else if (s == "false" || s == "no" || s == "off")
        e.scalar = "false";
      else
        fail(c, n, full, "expected true or false, got '" + s + "'");
      return;
    }
    case Type::kEnum: {
      const std::string s = lower(scalar_of(c, n, full));
      std::stringstream ss{std::string(def.choices)};
      for (std::string choice; std::getline(ss, choice, '|');) {
        if (choice == s) {
          e.scalar = s;
          return;
        }
      }
      fail(c, n, full,
           "expected one of " + std::string(def.choices) + (def.secret ? "" : ", got '" + s + "'"));
    }
    case Type::kStringList:
      if (n.IsScalar()) {
        e.list.push_back(n.Scalar());
        return;
      }
      if (!n.IsSequence()) fail(c, n, full, "expected a list of values");
      for (const auto& item : n) e.list.push_back(scalar_of(c, item, full));
      return;
    case Type::kStringMap:
      if (n.IsNull()) return;
      if (!n.IsMap()) fail(c, n, full, "expected a map of name: value");
      for (const auto& kv : n) {
        const std::string k = scalar_of(c, kv.first, full);
        e.map[k] = scalar_of(c, kv.second, join(full, k));
      }
      return;
    case Type::kObjectList:
      return;  // handled by walk()
  }
}

Values load_node(const Ctx& c, const YAML::Node& root) {
  Values v;
  if (root.IsNull()) {
    apply_defaults(c, root, "", v);  // empty file: required keys will be reported
    return v;
  }
  walk(c, root, "", "", v);
  apply_defaults(c, root, "", v);
  return v;
}

Values parse(const Schema& schema, const std::string& text, const std::string& name) {
  Ctx c{schema, name};
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(name + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": invalid YAML: " + e.msg);
  }
  return load_node(c, root);
}

}  // namespace

Values load_string(const Schema& schema, const std::string& yaml, const std::string& name) {
  return parse(schema, yaml, name);
}

Values load_file(const Schema& schema, const std::string& path, std::string_view hint) {
  const std::string next = hint.empty() ? std::string() : "; " + std::string(hint);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError(path + ": is a directory, not a config file" +
                      (hint.empty() ? "; pass the YAML file in it" : next));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(path + ": cannot open config file (" +
                      std::generic_category().message(errno) + ")" + next);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(schema, ss.str(), path);
}

}  // namespace edgesync::config
