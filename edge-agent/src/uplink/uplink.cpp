#include "uplink/uplink.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include <memory>

#include "edgesync/common/backoff.hpp"
#include "edgesync/common/secrets.hpp"
#include "uplink/batch_packer.hpp"
#include "uplink/uplink_session.hpp"

namespace edgesync::agent {

Uplink::Uplink(AgentConfig::Uplink cfg, std::string agent_id, BufferReader& buffer,
               std::function<void(std::uint64_t)> on_record_limit, UplinkLane lane)
    : cfg_(std::move(cfg)),
      agent_id_(std::move(agent_id)),
      buffer_(buffer),
      on_record_limit_(std::move(on_record_limit)),
      lane_(std::move(lane)),
      bucket_(cfg_.max_bytes_per_s),
      acks_(buffer_, counters_) {
  if (cfg_.compression == AgentConfig::Uplink::Compression::kZstd) {
    packer_ = std::make_unique<BatchPacker>(cfg_.zstd_level);
  }
  if (!cfg_.token_file.empty()) token_ = read_secret_file(cfg_.token_file);
  // Fail at start-up, not at the first connect, when TLS files are unreadable.
  (void)make_credentials(cfg_);
}

Uplink::~Uplink() {
  stop(std::chrono::milliseconds(0));
}

void Uplink::refresh_token() {
  // Read at every session start, so a rotated token (a Kubernetes Secret the kubelet refreshed,
  // a file an operator replaced) is used from the next reconnect on. An unreadable or empty file
  // keeps the last good token: a half-written file must not lock the agent out.
  if (cfg_.token_file.empty()) return;
  try {
    std::string t = read_secret_file(cfg_.token_file);
    if (t.empty()) {
      spdlog::warn("uplink: token file {} is empty; keeping the previous token", cfg_.token_file);
    } else if (t != token_) {
      if (!token_.empty()) {
        spdlog::info("uplink: token file {} changed; using the new token", cfg_.token_file);
      }
      token_ = std::move(t);
    }
  } catch (const std::exception& e) {
    spdlog::warn("uplink: cannot read token file ({}); keeping the previous token", e.what());
  }
}

void Uplink::start() {
  thread_ = std::jthread([this] { run(); });
}

void Uplink::stop(std::chrono::milliseconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  // Give the hub a moment to ack what is in flight, so the next start resends less.
  while (std::chrono::steady_clock::now() < deadline && counters_.connected &&
         counters_.acked_through.load() + 1 < buffer_.next_seq()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop_.stop();
  if (thread_.joinable()) thread_.join();
}

void Uplink::run() {
  std::random_device rd;
  Backoff backoff(cfg_.backoff_initial, cfg_.backoff_max,
                  (static_cast<std::uint64_t>(rd()) << 32) ^ std::hash<std::string>{}(agent_id_));
  for (;;) {
    refresh_token();
    const UplinkSession::Context ctx{cfg_,          agent_id_,
                                     token_,        buffer_,
                                     packer_.get(), lane_.bucket ? *lane_.bucket : bucket_,
                                     counters_,     acks_,
                                     stop_,         on_record_limit_,
                                     lane_.name,    lane_.rank,
                                     lane_.gate};
    auto s = std::make_unique<UplinkSession>(ctx, cfg_.hub);
    bool welcomed = s->run();
    // A redirect to the agent's owner is followed once per connect attempt; uplink.hub stays the
    // address we start from.
    if (!welcomed && !s->redirect().empty() && s->redirect() != cfg_.hub && !stop_.stopping()) {
      const std::string owner = s->redirect();
      s = std::make_unique<UplinkSession>(ctx, owner);
      welcomed = s->run();
    }
    if (stop_.stopping()) return;
    if (welcomed) backoff.reset();
    const auto wait = std::max(backoff.next(), s->retry_hint());
    spdlog::info("uplink: reconnecting to {} in {} ms", cfg_.hub, wait.count());
    if (stop_.wait_for(wait)) return;
  }
}

}  // namespace edgesync::agent
