// libFuzzer target: the YAML config loader (common/src/config_loader.cpp) with the edge-agent and
// the cloud-hub schema and their *_config_from() checks. Input: byte 0 picks the schema (even:
// edge-agent, odd: cloud-hub), the rest is the YAML text. A config problem must come out as
// config::ConfigError; any other exception, a crash or a sanitizer report is a finding.
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "agent_config.hpp"
#include "edgesync/common/config.hpp"
#include "hub_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool agent = (data[0] & 1) == 0;
  const std::string yaml(reinterpret_cast<const char*>(data + 1), size - 1);
  namespace config = edgesync::config;
  try {
    if (agent) {
      const auto values = config::load_string(edgesync::agent::agent_schema(), yaml, "fuzz.yaml");
      (void)edgesync::agent::agent_config_from(values);
    } else {
      const auto values = config::load_string(edgesync::hub::hub_schema(), yaml, "fuzz.yaml");
      (void)edgesync::hub::hub_config_from(values);
    }
  } catch (const config::ConfigError&) {
    // The documented way to reject a config.
  }
  return 0;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}
