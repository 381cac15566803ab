#include "refusal.hpp"

#include <spdlog/spdlog.h>

#include "edgesync/common/text.hpp"

namespace edgesync::hub {

void RefusalLog::warn(Refusal r, std::string_view peer, std::string_view agent,
                      std::string_view message) {
  Slot& s = slots_[static_cast<std::size_t>(r)];
  const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t last = s.last_ns.load(std::memory_order_relaxed);
  if (now - last < 1'000'000'000 || !s.last_ns.compare_exchange_strong(last, now)) {
    s.suppressed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::uint64_t held = s.suppressed.exchange(0);
  const auto& info = refusal_info(r);
  spdlog::warn("hub: refused stream ({}) from {} agent '{}': {}{}", info.label, printable(peer),
               printable(agent), printable(message, 512),
               held ? fmt::format(" ({} more like it in the last second)", held) : std::string());
}

}  // namespace edgesync::hub
