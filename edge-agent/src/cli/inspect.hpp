// Views of the buffer for field techs (`edge-agent buffer ...`): status as text or JSON. The
// figures come from the buffer's read-only reader (buffer/buffer_file.hpp).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "buffer/buffer_file.hpp"

namespace edgesync::agent {

// The agent's state counts as current for this long after its last update.
inline constexpr std::int64_t kStateStaleAfterNs = 30'000'000'000;

// True when a running agent (fresh state) reports its disk full.
bool disk_full(const BufferStatus& s);
nlohmann::json to_json(const BufferStatus& s);
std::string to_text(const BufferStatus& s);

}  // namespace edgesync::agent
