// Each default in one place: the key tables are bound to the config structs, whose member
// initializers are the defaults (issue #13 point 3).
#include <doctest/doctest.h>

#include <array>
#include <map>
#include <sstream>
#include <string>

#include "agent_config.hpp"
#include "buffer/sqlite_buffer.hpp"
#include "edgesync/common/config_binding.hpp"
#include "hub_config.hpp"

using edgesync::config::BoundSchema;
using edgesync::config::KeyDef;
using edgesync::config::load_string;
using edgesync::config::Schema;
using edgesync::config::Type;

namespace {

// A value the key accepts that differs from its default (empty when the test cannot set one).
std::string other_value(const KeyDef& k) {
  switch (k.type) {
    case Type::kInt: {
      const std::int64_t v = k.min == std::stoll(std::string(k.default_value)) ? k.min + 1 : k.min;
      return std::to_string(v);
    }
    case Type::kBool:
      return k.default_value == "true" ? "false" : "true";
    case Type::kEnum: {
      std::stringstream ss{std::string(k.choices)};
      for (std::string c; std::getline(ss, c, '|');) {
        if (c != k.default_value) return c;
      }
      return {};
    }
    case Type::kString:
      return "set-" + std::string(k.path.substr(k.path.rfind('.') + 1));
    case Type::kStringList:
      return "set/" + std::string(k.path.substr(k.path.rfind('.') + 1));
    default:
      return {};
  }
}

// Nested YAML from dotted paths (sorted, so that the keys of a section are adjacent).
std::string yaml_of(const std::map<std::string, std::string>& kv) {
  std::string out;
  std::vector<std::string> open;  // sections of the previous key
  for (const auto& [path, value] : kv) {
    std::vector<std::string> parts;
    std::stringstream ss(path);
    for (std::string p; std::getline(ss, p, '.');) parts.push_back(p);
    std::size_t common = 0;
    while (common < open.size() && common + 1 < parts.size() && open[common] == parts[common]) {
      ++common;
    }
    for (std::size_t i = common; i + 1 < parts.size(); ++i) {
      out += std::string(2 * i, ' ') + parts[i] + ":\n";
    }
    out += std::string(2 * (parts.size() - 1), ' ') + parts.back() + ": \"" + value + "\"\n";
    open.assign(parts.begin(), parts.end() - 1);
  }
  return out;
}

// Sets every bound key at once to a value other than its default, loads, and checks that each
// member reads back what its key said: a row bound to the wrong member, or two rows to one
// member, fails here.
template <class Config>
void check_every_key_sets_its_member(const BoundSchema<Config>& bound,
                                     Config (*from)(const edgesync::config::Values&)) {
  std::map<std::string, std::string> set;
  for (const auto& k : bound.schema().keys) {
    if (k.path.find("[]") != std::string_view::npos || !bound.text_of(k.path, Config{})) continue;
    const auto v = other_value(k);
    if (!v.empty()) set[std::string(k.path)] = v;
  }
  REQUIRE(set.size() > 20);
  const std::string yaml = yaml_of(set);
  INFO(yaml);
  const Config c = from(load_string(bound.schema(), yaml, "all-keys.yaml"));
  for (const auto& kv : set) {  // (no structured binding: INFO captures it, clang 14 refuses)
    INFO(kv.first);
    CHECK(bound.text_of(kv.first, c) == kv.second);
  }
}

struct Tiny {
  int level = 7;
};
std::string tiny_error() {
  static constexpr std::array kRows = {edgesync::config::bind<Tiny>(
      EDGESYNC_FIELD(level), KeyDef{"tiny.level", Type::kInt, {}, false, 0, 5, {}, "doc"})};
  try {
    const BoundSchema<Tiny> s("tiny", kRows);
  } catch (const std::logic_error& e) {
    return e.what();
  }
  return {};
}

}  // namespace

TEST_CASE("the buffer options a test builds are the shipped buffer defaults") {
  const edgesync::agent::SqliteBufferOptions built;
  const auto loaded = edgesync::agent::agent_config_from(
      load_string(edgesync::agent::agent_schema(), "agent: {id: a}\nuplink: {hub: 'h:1'}\n", "a"));
  CHECK(built.commit_delay == std::chrono::milliseconds(1000));
  CHECK(loaded.buffer.commit_delay == built.commit_delay);
  CHECK(loaded.buffer.max_bytes == built.max_bytes);
  CHECK(loaded.buffer.max_age == built.max_age);
  CHECK(loaded.buffer.disk_reserve_bytes == built.disk_reserve_bytes);
  CHECK(loaded.buffer.full_policy == built.full_policy);
  const auto* row = edgesync::agent::agent_schema().find("buffer.commit_delay_ms");
  REQUIRE(row != nullptr);
  CHECK(row->default_value == "1000");
}

TEST_CASE("every default of the agent and hub tables comes from a struct member") {
  const edgesync::agent::AgentConfig agent;
  for (const auto& k : edgesync::agent::agent_schema().keys) {
    INFO(k.path);
    const auto text = edgesync::agent::agent_bound_schema().text_of(k.path, agent);
    // Unbound rows: the object list `lanes` and its members (their defaults live in the table).
    CHECK((text ? *text == k.default_value : k.path.starts_with("lanes")));
  }
  const edgesync::hub::HubConfig hub;
  for (const auto& k : edgesync::hub::hub_schema().keys) {
    INFO(k.path);
    const auto text = edgesync::hub::hub_bound_schema().text_of(k.path, hub);
    // Unbound rows: the object list `kafka.routes` and its members, set by hand.
    CHECK((text ? *text == k.default_value : k.path.starts_with("kafka.routes")));
  }
}

TEST_CASE("every agent key sets the member it is bound to") {
  check_every_key_sets_its_member(edgesync::agent::agent_bound_schema(),
                                  &edgesync::agent::agent_config_from);
}

TEST_CASE("every hub key sets the member it is bound to") {
  check_every_key_sets_its_member(edgesync::hub::hub_bound_schema(),
                                  &edgesync::hub::hub_config_from);
}

TEST_CASE("a member default outside its key's range is refused naming the key") {
  const auto e = tiny_error();
  CHECK(e.find("tiny.level") != std::string::npos);
  CHECK(e.find("'7'") != std::string::npos);
}
