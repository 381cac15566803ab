// Why a record was dropped without an ack: the one list of drop reasons, with the name each is
// counted under. Every drop is deliberate and counted (persisted in meta `dropped_<name>`,
// exported as edgesync_agent_records_dropped_total{reason="<name>"}).
#pragma once

#include <array>
#include <cstddef>
#include <string>

namespace edgesync::agent {

enum class DropReason { kOldest, kExpired, kOversize, kDiskFull };
// Every DropReason in order; their count sizes the per-reason arrays.
inline constexpr std::array kAllDropReasons = {DropReason::kOldest, DropReason::kExpired,
                                               DropReason::kOversize, DropReason::kDiskFull};
inline constexpr std::size_t kDropReasons = kAllDropReasons.size();

inline constexpr const char* drop_reason_name(DropReason r) {
  switch (r) {
    case DropReason::kOldest:
      return "oldest";
    case DropReason::kExpired:
      return "expired";
    case DropReason::kOversize:
      return "oversize";
    case DropReason::kDiskFull:
      return "disk_full";
  }
  return "?";
}

// Records deleted by `edge-agent buffer purge`: counted by the CLI itself (meta dropped_purge), so
// not a DropReason of the running agent, but shown beside them under this name.
inline constexpr const char* kPurgeDropName = "purge";

// The meta key a drop count is persisted under: "dropped_" + name.
inline constexpr const char* kDropMetaPrefix = "dropped_";
inline std::string drop_meta_key(const char* name) {
  return std::string(kDropMetaPrefix) + name;
}
inline std::string drop_meta_key(DropReason r) {
  return drop_meta_key(drop_reason_name(r));
}

// Index of a reason in the per-reason arrays (BufferStats::dropped, ...).
inline constexpr std::size_t drop_index(DropReason r) {
  return static_cast<std::size_t>(r);
}

}  // namespace edgesync::agent
