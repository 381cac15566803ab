// SqliteBuffer: a file that fails for good while the agent runs (is_permanent_code, three commits
// in a row): keep what was accepted in the rescue file and stop; at the next open, store it.
#include <spdlog/spdlog.h>

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "buffer/buffer_rescue.hpp"
#include "buffer/sqlite_buffer.hpp"
#include "buffer/sqlite_buffer_internal.hpp"

namespace edgesync::agent {

void SqliteBuffer::fail_for_good(int rc) {
  const std::string why =
      std::string(sqlite3_errstr(rc)) + " (rc=" + std::to_string(rc) + "): " + wdb_.errmsg();
  std::vector<IncomingMessage> queued;
  {
    std::lock_guard lk(mu_);
    failure_ = why;
    queued.swap(pending_);  // accepted (MQTT-acked within the window), never committed
    rescued_through_ = appended_;
  }
  // The next start moves the file aside (buffer_store.cpp) and stores these in the new one.
  const std::string rescue = opts_.path + kDamagedMarkerSuffix;
  if (write_rescue(rescue, why, queued)) {
    spdlog::critical(
        "buffer: every write to {} fails with {}. The buffer stores nothing more: the agent "
        "exits; its next start moves the file aside (counted in quarantined_files; `edge-agent "
        "buffer export` reads it), starts an empty one and stores the {} queued messages kept "
        "in {}",
        opts_.path, why, queued.size(), rescue);
  } else {
    {
      std::lock_guard lk(mu_);
      rescued_through_ = 0;
    }
    spdlog::critical(
        "buffer: every write to {} fails with {}, and {} cannot be written either ({}): {} "
        "accepted messages are LOST. Move the file aside by hand before the next start",
        opts_.path, why, rescue, std::generic_category().message(errno), queued.size());
  }
  if (opts_.on_failure) opts_.on_failure();
}

void SqliteBuffer::store_rescued() {
  if (!open_result_.rescue) return;
  const std::string rescue = opts_.path + kDamagedMarkerSuffix;
  auto& r = *open_result_.rescue;
  if (!r.damage.empty()) {
    spdlog::error("buffer: {} is damaged ({}); storing the {} messages it holds", rescue, r.damage,
                  r.messages.size());
  }
  if (!r.messages.empty()) {
    Work w;
    w.batch = std::move(r.messages);
    if (!commit(w).ok) {
      throw std::runtime_error("cannot store the " + std::to_string(w.batch.size()) +
                               " messages kept in " + rescue + " (" + wdb_.errmsg() +
                               "); it is left in place for the next start");
    }
    spdlog::warn("buffer: stored {} messages the last run accepted but could not commit ({})",
                 w.batch.size(), rescue);
  }
  std::error_code ec;
  std::filesystem::remove(rescue, ec);
  open_result_.rescue.reset();
}

}  // namespace edgesync::agent
