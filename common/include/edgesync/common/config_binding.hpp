// Config keys bound to the struct members they set (librdkafka's `_RK(field)`, Fluent Bit's
// `offsetof` config maps): a row of the key table names its member, and the member's initializer
// is the key's one default. The schema's textual defaults (validation, `config-reference`, the
// generated docs) are read from a default-constructed struct, so a struct built in a test and a
// config file that leaves the key out get the same value.
//
//   constexpr std::array kKeys = {
//       bind<AgentConfig>(EDGESYNC_FIELD(buffer.commit_delay),
//                         KeyDef{"buffer.commit_delay_ms", Type::kInt, {}, false, 0, 1000, {},
//                         "…"}),
//   };
//
// Member types: std::string, bool, integers, double (from an integer key), std::chrono durations
// (the count in the key's unit), std::vector<std::string>, std::map<std::string, std::string>;
// an enum key (Type::kEnum) sets a std::string to the choice, or an enum or bool to the index of
// the choice in `choices` ("normal|full": false, true).
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "edgesync/common/config.hpp"

// The accessor of a bound row: a member path inside the config struct ("buffer.commit_delay").
// (`member` is a path of member names, which parentheses would break.)
// clang-format off
#define EDGESYNC_FIELD(member) [](auto& cfg) -> auto& { return cfg.member; }  // NOLINT(bugprone-macro-parentheses)
// clang-format on

namespace edgesync::config {

template <class Config>
struct BoundKey {
  KeyDef key;
  // Null for a row set by hand (an object list, or a key whose value needs more than a copy).
  void (*load)(const KeyDef& key, const Values& v, Config& cfg) = nullptr;
  std::string (*show)(const KeyDef& key, const Config& cfg) = nullptr;
};

namespace binding_detail {

template <class T>
struct IsDuration : std::false_type {};
template <class R, class P>
struct IsDuration<std::chrono::duration<R, P>> : std::true_type {};

// Index of `choice` in "a|b|c", or -1.
inline int choice_index(std::string_view choices, std::string_view choice) {
  int i = 0;
  for (std::size_t start = 0;; ++i) {
    const auto bar = choices.find('|', start);
    if (choices.substr(start, bar - start) == choice) return i;
    if (bar == std::string_view::npos) return -1;
    start = bar + 1;
  }
}

inline std::string choice_name(std::string_view choices, int index) {
  std::size_t start = 0;
  for (int i = 0; i < index; ++i) {
    const auto bar = choices.find('|', start);
    if (bar == std::string_view::npos) return {};
    start = bar + 1;
  }
  return std::string(choices.substr(start, choices.find('|', start) - start));
}

template <class T>
void read(const KeyDef& k, const Values& v, T& out) {
  const std::string_view path = k.path;
  if constexpr (std::is_same_v<T, std::string>) {
    out = v.str(path);
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    out = v.list(path);
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    out = v.map(path);
  } else if constexpr (std::is_enum_v<T> || std::is_same_v<T, bool>) {
    if (k.type == Type::kEnum) {
      out = static_cast<T>(choice_index(k.choices, v.str(path)));
    } else if constexpr (std::is_same_v<T, bool>) {
      out = v.boolean(path);
    } else {
      throw std::logic_error("config key " + std::string(path) + ": an enum member needs kEnum");
    }
  } else if constexpr (IsDuration<T>::value) {
    out = T(static_cast<typename T::rep>(v.integer(path)));
  } else if constexpr (std::is_arithmetic_v<T>) {
    out = static_cast<T>(v.integer(path));
  } else {
    static_assert(std::is_same_v<T, std::string>, "no config binding for this member type");
  }
}

template <class T>
std::string text(const KeyDef& k, const T& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    return value;
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    std::string out;  // the loader splits a list default at commas
    for (const auto& item : value) out += (out.empty() ? "" : ",") + item;
    return out;
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    if (!value.empty())
      throw std::logic_error("config key " + std::string(k.path) +
                             ": a map member's default must be empty");
    return {};
  } else if constexpr (std::is_enum_v<T> || std::is_same_v<T, bool>) {
    if (k.type == Type::kEnum) return choice_name(k.choices, static_cast<int>(value));
    if constexpr (std::is_same_v<T, bool>) return value ? "true" : "false";
    throw std::logic_error("config key " + std::string(k.path) + ": an enum member needs kEnum");
  } else if constexpr (IsDuration<T>::value) {
    return std::to_string(static_cast<std::int64_t>(value.count()));
  } else {
    return std::to_string(static_cast<std::int64_t>(value));
  }
}

}  // namespace binding_detail

// A row bound to the member `Access` returns (EDGESYNC_FIELD). The row's own default_value must
// stay empty: the member's initializer is the default.
template <class Config, class Access>
constexpr BoundKey<Config> bind(Access /*member*/, KeyDef key) {
  return BoundKey<Config>{
      key,
      [](const KeyDef& k, const Values& v, Config& cfg) {
        binding_detail::read(k, v, Access{}(cfg));
      },
      [](const KeyDef& k, const Config& cfg) { return binding_detail::text(k, Access{}(cfg)); }};
}

// A row set by hand; its default, if any, is the row's default_value.
template <class Config>
constexpr BoundKey<Config> unbound(KeyDef key) {
  return BoundKey<Config>{key};
}

// The validation schema of a bound table, with every default taken from `Config{}`.
template <class Config>
class BoundSchema {
 public:
  BoundSchema(std::string_view program, std::span<const BoundKey<Config>> rows) : rows_(rows) {
    const Config defaults{};
    defaults_.reserve(rows.size());  // string_views below point into these: no reallocation
    keys_.reserve(rows.size());
    for (const auto& r : rows) {
      KeyDef k = r.key;
      if (r.show != nullptr) {
        if (!k.default_value.empty()) {
          throw std::logic_error("config key " + std::string(k.path) +
                                 ": a bound row takes its default from the member, not the row");
        }
        defaults_.push_back(r.show(k, defaults));
        k.default_value = defaults_.back();
        check_default(k);
      }
      keys_.push_back(k);
    }
    schema_ = Schema{program, keys_};
  }
  BoundSchema(const BoundSchema&) = delete;
  BoundSchema& operator=(const BoundSchema&) = delete;

  const Schema& schema() const { return schema_; }

  // Sets every bound member from validated values; members of unbound rows are left as they are.
  void load(const Values& v, Config& cfg) const {
    for (const auto& r : rows_) {
      if (r.load != nullptr) r.load(r.key, v, cfg);
    }
  }

  // The value of the member bound to `path` as the loader writes it; nullopt for an unbound row.
  std::optional<std::string> text_of(std::string_view path, const Config& cfg) const {
    for (const auto& r : rows_) {
      if (r.key.path == path && r.show != nullptr) return r.show(r.key, cfg);
    }
    return std::nullopt;
  }

 private:
  // A member initializer the table would refuse in a file is a bug of the table: fail at start-up
  // (and in the unit tests), naming the key.
  static void check_default(const KeyDef& k) {
    const std::string_view d = k.default_value;
    bool ok = true;
    if (k.type == Type::kInt) {
      std::int64_t v = 0;
      const auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), v);
      ok = ec == std::errc() && end == d.data() + d.size() && v >= k.min && v <= k.max;
    } else if (k.type == Type::kEnum) {
      ok = binding_detail::choice_index(k.choices, d) >= 0;
    }
    if (!ok) {
      throw std::logic_error("config key " + std::string(k.path) + ": the member's default '" +
                             std::string(d) + "' is not a value the key accepts");
    }
  }

  std::span<const BoundKey<Config>> rows_;
  std::vector<std::string> defaults_;
  std::vector<KeyDef> keys_;
  Schema schema_;
};

}  // namespace edgesync::config
