#include "uplink.hpp"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <random>

#include "batch_packer.hpp"
#include "edgesync/common/backoff.hpp"
#include "edgesync/common/secrets.hpp"
#include "edgesync/v1/sync.grpc.pb.h"

namespace edgesync::agent {
namespace {

std::shared_ptr<grpc::ChannelCredentials> make_credentials(const AgentConfig::Uplink& c) {
  if (!c.tls.enabled) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions o;
  if (!c.tls.ca_file.empty()) o.pem_root_certs = read_text_file(c.tls.ca_file);
  if (!c.tls.cert_file.empty()) o.pem_cert_chain = read_text_file(c.tls.cert_file);
  if (!c.tls.key_file.empty()) o.pem_private_key = read_text_file(c.tls.key_file);
  return grpc::SslCredentials(o);
}

grpc::ChannelArguments make_channel_args(const AgentConfig::Uplink& c) {
  grpc::ChannelArguments a;
  const int ka = static_cast<int>(c.keepalive.count());
  a.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, ka);
  a.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, ka);
  a.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  a.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // One fresh connection per session attempt: our own backoff decides when to retry.
  a.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  a.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 16 << 20);
  if (!c.server_name.empty()) a.SetSslTargetNameOverride(c.server_name);
  return a;
}

}  // namespace

// One stream's worth of state, shared by the writer (calling thread) and the ack reader thread.
class Uplink::Session {
 public:
  // `target`: the configured hub, or the owner a hub redirected us to (exactly_once replicas).
  Session(Uplink& u, std::string target) : u_(u), target_(std::move(target)) {}

  // Returns true when the hub welcomed us (so the backoff can be reset).
  bool run() {
    auto channel =
        grpc::CreateCustomChannel(target_, make_credentials(u_.cfg_), make_channel_args(u_.cfg_));
    auto stub = v1::Sync::NewStub(channel);
    grpc::ClientContext ctx;
    u_.refresh_token();
    if (!u_.token_.empty()) ctx.AddMetadata("authorization", "Bearer " + u_.token_);
    if (u_.cfg_.compression == AgentConfig::Uplink::Compression::kGzip) {
      ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
    }
    {
      std::lock_guard lk(u_.mu_);
      if (u_.stopping_) return false;
      u_.live_ctx_ = &ctx;
    }
    auto stream = stub->Stream(&ctx);
    const bool welcomed = handshake(*stream);
    if (welcomed) {
      std::thread reader([&] { read_acks(*stream); });
      send_loop(*stream);
      if (!hub_ended()) ctx.TryCancel();  // else keep the hub's status and trailers for Finish()
      reader.join();
    } else if (!hub_closed_) {
      ctx.TryCancel();  // else keep the hub's own status (e.g. PERMISSION_DENIED) for Finish()
    }
    {
      std::lock_guard lk(u_.mu_);
      u_.live_ctx_ = nullptr;
    }
    u_.counters_.connected = false;
    grpc::Status st = stream->Finish();
    // The hub's retry hint (rate limit, overload): wait at least that long before reconnecting.
    const auto& trailers = ctx.GetServerTrailingMetadata();
    if (auto it = trailers.find("retry-after-ms"); it != trailers.end()) {
      const std::string v(it->second.data(), it->second.size());
      const auto ms = std::strtoull(v.c_str(), nullptr, 10);
      retry_hint_ = std::chrono::milliseconds(std::min<unsigned long long>(ms, 600000));
    }
    if (!stopping()) {
      u_.counters_.failures.fetch_add(1);
      spdlog::warn("uplink: stream to {} ended: {} ({}){}", target_,
                   static_cast<int>(st.error_code()), st.error_message(),
                   welcomed ? "" : " before the hub welcomed us");
    }
    return welcomed;
  }
  std::chrono::milliseconds retry_hint() const { return retry_hint_; }
  const std::string& redirect() const { return redirect_; }

 private:
  bool hub_ended() {
    std::lock_guard lk(mu_);
    return broken_;
  }
  bool stopping() {
    std::lock_guard lk(u_.mu_);
    return u_.stopping_;
  }

  bool handshake(grpc::ClientReaderWriter<v1::AgentMessage, v1::HubMessage>& stream) {
    const std::uint64_t next = u_.buffer_.next_seq();
    const std::uint64_t first = u_.buffer_.first_unacked_seq();
    sent_through_ = first ? first - 1 : next - 1;
    v1::AgentMessage hello;
    auto* h = hello.mutable_hello();
    h->set_agent_id(u_.agent_id_);
    h->set_epoch(u_.buffer_.next_epoch());
    h->set_first_unacked_seq(first);
    h->set_next_seq(next);
    h->set_agent_version(EDGESYNC_VERSION);
    h->set_buffer_id(u_.buffer_.buffer_id());
    h->add_features(v1::FEATURE_REJECT);
    h->add_features(v1::FEATURE_RECORD_LIMIT);
    if (u_.packer_) h->add_features(v1::FEATURE_PACKED_ZSTD);
    if (!stream.Write(hello)) return false;
    v1::HubMessage m;
    if (!stream.Read(&m)) {
      hub_closed_ = true;
      return false;
    }
    if (m.has_redirect()) {  // this replica does not own us: it names the one that does
      redirect_ = m.redirect().address();
      spdlog::info("uplink: hub {} redirects us: {}", target_, m.redirect().reason());
      hub_closed_ = true;  // its status follows
      return false;
    }
    if (!m.has_welcome()) return false;
    // Packed batches only when this hub said it takes them (a hub before 1.2 does not).
    packed_ = u_.packer_ && std::ranges::count(m.welcome().features(), v1::FEATURE_PACKED_ZSTD) > 0;
    const auto durable = m.welcome().durable_through();
    if (durable >= next) {
      // A hub that claims records we never assigned is wrong (or not ours): skip nothing.
      spdlog::warn("uplink: hub {} says durable through {} but our next seq is {}; ignoring it",
                   target_, durable, next);
    } else if (durable > sent_through_) {
      // The hub already has these in Kafka (e.g. acked batch whose ack we lost): skip them.
      u_.apply_ack(durable);
      sent_through_ = durable;
    }
    if (m.welcome().max_batch_records() > 0) {
      max_records_ =
          std::min<std::size_t>(u_.cfg_.batch_max_records, m.welcome().max_batch_records());
    }
    if (m.welcome().max_batch_bytes() > 0) {
      max_bytes_ = std::min<std::size_t>(u_.cfg_.batch_max_bytes, m.welcome().max_batch_bytes());
    }
    // 0 from hubs before 1.1 (no limit known): ingest keeps only its own mqtt.max_payload_bytes.
    if (u_.on_record_limit_) u_.on_record_limit_(m.welcome().max_record_bytes());
    u_.counters_.connected = true;
    u_.counters_.sessions.fetch_add(1);
    spdlog::info("uplink: connected to hub {} ({}), resuming after seq {}{}", target_,
                 m.welcome().hub_id(), sent_through_, packed_ ? ", packed batches (zstd)" : "");
    return true;
  }

  void read_acks(grpc::ClientReaderWriter<v1::AgentMessage, v1::HubMessage>& stream) {
    v1::HubMessage m;
    while (stream.Read(&m)) {
      if (m.has_ack()) {
        const auto through = m.ack().acked_through();
        // Records Kafka refused for good: keep them in the dead-letter table, never resend.
        for (const auto& r : m.ack().rejected()) {
          if (r.seq() > through) continue;  // the protocol lists only covered seqs
          spdlog::warn("uplink: hub rejected seq {} for good ({}); moved to the dead-letter table",
                       r.seq(), r.reason());
          u_.unmoved_.emplace(r.seq(), r.reason());  // apply_ack moves it (or keeps trying)
        }
        {
          std::lock_guard lk(mu_);
          while (!inflight_.empty() && inflight_.front() <= through) inflight_.pop_front();
        }
        u_.apply_ack(through);
        cv_.notify_all();
      } else if (m.has_slow_down()) {
        std::lock_guard lk(mu_);
        pause_until_ = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(m.slow_down().retry_after_ms());
        spdlog::info("uplink: hub asks to slow down for {} ms ({})", m.slow_down().retry_after_ms(),
                     m.slow_down().reason());
      }
    }
    std::lock_guard lk(mu_);
    broken_ = true;
    cv_.notify_all();
  }

  void send_loop(grpc::ClientReaderWriter<v1::AgentMessage, v1::HubMessage>& stream) {
    const std::size_t window = u_.cfg_.max_inflight_batches;
    std::uint64_t batch_id = 0;
    for (;;) {
      {
        std::unique_lock lk(mu_);
        cv_.wait_for(lk, std::chrono::milliseconds(200),
                     [&] { return broken_ || inflight_.size() < window; });
        if (broken_) return;
        if (inflight_.size() >= window) continue;
        const auto now = std::chrono::steady_clock::now();
        if (now < pause_until_) {
          cv_.wait_until(lk, pause_until_, [&] { return broken_; });
          continue;
        }
      }
      if (stopping()) return;
      auto recs = u_.buffer_.read_after(sent_through_, max_records_, max_bytes_);
      if (recs.empty()) {
        u_.buffer_.wait_for_records(sent_through_, std::chrono::milliseconds(250));
        continue;
      }
      v1::AgentMessage msg;
      if (packed_) {
        u_.packer_->pack(++batch_id, recs, *msg.mutable_packed_batch());
      } else {
        auto* b = msg.mutable_batch();
        b->set_batch_id(++batch_id);
        b->mutable_records()->Reserve(static_cast<int>(recs.size()));
        for (auto& r : recs) {
          auto* pr = b->add_records();
          pr->set_seq(r.seq);
          pr->set_device_id(std::move(r.device_id));
          pr->set_mqtt_topic(std::move(r.topic));
          pr->set_payload(std::move(r.payload));
          pr->set_received_unix_ns(r.received_unix_ns);
          pr->set_qos(static_cast<std::uint32_t>(r.qos));
        }
      }
      const std::uint64_t last = recs.back().seq;
      const std::size_t size = msg.ByteSizeLong();
      // uplink.max_bytes_per_s: wait until the bucket has paid for this message.
      if (const auto wait = u_.bucket_.take(size); wait.count() > 0) {
        std::unique_lock lk(mu_);
        if (cv_.wait_for(lk, wait, [&] { return broken_; })) return;
      }
      if (stopping()) return;
      {
        std::lock_guard lk(mu_);
        inflight_.push_back(last);
      }
      if (!stream.Write(msg)) return;
      u_.counters_.stream_bytes.fetch_add(size, std::memory_order_relaxed);
      if (packed_) u_.counters_.packed_batches.fetch_add(1, std::memory_order_relaxed);
      sent_through_ = last;
      u_.counters_.batches_sent.fetch_add(1, std::memory_order_relaxed);
      u_.counters_.records_sent.fetch_add(recs.size(), std::memory_order_relaxed);
    }
  }

  Uplink& u_;
  std::string target_;
  std::string redirect_;  // the owner's address from a Redirect, else ""
  std::uint64_t sent_through_ = 0;
  std::size_t max_records_ = u_.cfg_.batch_max_records;
  std::size_t max_bytes_ = u_.cfg_.batch_max_bytes;
  bool packed_ = false;  // the hub welcomed FEATURE_PACKED_ZSTD
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::uint64_t> inflight_;  // last seq of each unacked batch
  std::chrono::steady_clock::time_point pause_until_{};
  bool broken_ = false;
  bool hub_closed_ = false;  // the hub ended the stream during the handshake
  std::chrono::milliseconds retry_hint_{0};
};

Uplink::Uplink(AgentConfig::Uplink cfg, std::string agent_id, Buffer& buffer,
               std::function<void(std::uint64_t)> on_record_limit)
    : cfg_(std::move(cfg)),
      agent_id_(std::move(agent_id)),
      buffer_(buffer),
      on_record_limit_(std::move(on_record_limit)),
      bucket_(cfg_.max_bytes_per_s) {
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

std::uint64_t Uplink::apply_ack(std::uint64_t through) {
  for (auto it = unmoved_.begin(); it != unmoved_.end() && it->first <= through;) {
    if (!buffer_.dead_letter(it->first, it->second)) break;  // logged; retried at the next ack
    counters_.dead_lettered.fetch_add(1, std::memory_order_relaxed);
    it = unmoved_.erase(it);
  }
  // Never past a refused record that is not in the dead-letter table yet: acking would delete it.
  const std::uint64_t cap =
      unmoved_.empty() ? through : std::min(through, unmoved_.begin()->first - 1);
  buffer_.ack_through(cap);
  counters_.acked_through = cap;
  return cap;
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
  thread_ = std::thread([this] { run(); });
}

void Uplink::stop(std::chrono::milliseconds grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  // Give the hub a moment to ack what is in flight, so the next start resends less.
  while (std::chrono::steady_clock::now() < deadline && counters_.connected &&
         counters_.acked_through.load() + 1 < buffer_.next_seq()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    if (live_ctx_ != nullptr) live_ctx_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Uplink::run() {
  std::random_device rd;
  Backoff backoff(cfg_.backoff_initial, cfg_.backoff_max,
                  (static_cast<std::uint64_t>(rd()) << 32) ^ std::hash<std::string>{}(agent_id_));
  for (;;) {
    auto s = std::make_unique<Session>(*this, cfg_.hub);
    bool welcomed = s->run();
    // A redirect to the agent's owner is followed once per connect attempt; uplink.hub stays the
    // address we start from.
    const bool stop_now = [this] {
      std::lock_guard lk(mu_);
      return stopping_;
    }();
    if (!welcomed && !s->redirect().empty() && s->redirect() != cfg_.hub && !stop_now) {
      s = std::make_unique<Session>(*this, std::string(s->redirect()));
      welcomed = s->run();
    }
    std::unique_lock lk(mu_);
    if (stopping_) return;
    if (welcomed) backoff.reset();
    const auto wait = std::max(backoff.next(), s->retry_hint());
    spdlog::info("uplink: reconnecting to {} in {} ms", cfg_.hub, wait.count());
    cv_.wait_for(lk, wait, [&] { return stopping_; });
    if (stopping_) return;
  }
}

}  // namespace edgesync::agent
