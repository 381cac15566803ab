#pragma once
#include <string_view>

namespace edgesync {
// Configures the default spdlog logger: level (trace|debug|info|warn|error), format (text|json).
// Throws std::invalid_argument on an unknown level.
void setup_logging(std::string_view program, std::string_view level, std::string_view format);
}  // namespace edgesync
