#include "uplink/uplink_session.hpp"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "edgesync/common/secrets.hpp"
#include "uplink/batch_packer.hpp"
#include "uplink/lane_gate.hpp"

namespace edgesync::agent {
namespace {

// How long a lane waits before asking again a hub that did not know lanes (a rolling upgrade).
constexpr std::chrono::seconds kNoLanesRetry{60};

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

std::shared_ptr<grpc::ChannelCredentials> make_credentials(const AgentConfig::Uplink& c) {
  if (!c.tls.enabled) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions o;
  if (!c.tls.ca_file.empty()) o.pem_root_certs = read_text_file(c.tls.ca_file);
  if (!c.tls.cert_file.empty()) o.pem_cert_chain = read_text_file(c.tls.cert_file);
  if (!c.tls.key_file.empty()) o.pem_private_key = read_text_file(c.tls.key_file);
  return grpc::SslCredentials(o);
}

UplinkSession::UplinkSession(Context c, std::string target)
    : c_(c),
      target_(std::move(target)),
      max_records_(c_.cfg.batch_max_records),
      max_bytes_(c_.cfg.batch_max_bytes) {}

bool UplinkSession::run() {
  auto channel =
      grpc::CreateCustomChannel(target_, make_credentials(c_.cfg), make_channel_args(c_.cfg));
  auto stub = v1::Sync::NewStub(channel);
  grpc::ClientContext ctx;
  if (!c_.token.empty()) ctx.AddMetadata("authorization", "Bearer " + c_.token);
  if (c_.cfg.compression == AgentConfig::Uplink::Compression::kGzip) {
    ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  }
  if (!c_.stop.attach(&ctx)) return false;
  auto stream = stub->Stream(&ctx);
  const bool welcomed = handshake(*stream);
  if (welcomed) {
    std::jthread reader([&] { read_acks(*stream); });
    send_loop(*stream);
    if (!hub_ended()) ctx.TryCancel();  // else keep the hub's status and trailers for Finish()
    reader.join();
    publish_busy(false);  // after the reader: a late ack must not mark the lane busy again
  } else if (!hub_closed_) {
    ctx.TryCancel();  // else keep the hub's own status (e.g. PERMISSION_DENIED) for Finish()
  }
  c_.stop.detach();
  c_.counters.connected = false;
  grpc::Status st = stream->Finish();
  // The hub's retry hint (rate limit, overload): wait at least that long before reconnecting.
  const auto& trailers = ctx.GetServerTrailingMetadata();
  if (auto it = trailers.find("retry-after-ms"); it != trailers.end()) {
    const std::string v(it->second.data(), it->second.size());
    const auto ms = std::strtoull(v.c_str(), nullptr, 10);
    retry_hint_ = std::chrono::milliseconds(std::min<unsigned long long>(ms, 600000));
  }
  if (!stopping()) {
    c_.counters.failures.fetch_add(1);
    spdlog::warn("uplink: stream to {} ended: {} ({}){}", target_,
                 static_cast<int>(st.error_code()), st.error_message(),
                 welcomed ? "" : " before the hub welcomed us");
  }
  return welcomed;
}

bool UplinkSession::hub_ended() {
  std::lock_guard lk(mu_);
  return broken_;
}

bool UplinkSession::stopping() {
  return c_.stop.stopping();
}

bool UplinkSession::handshake(Stream& stream) {
  const std::uint64_t next = c_.buffer.next_seq();
  const std::uint64_t first = c_.buffer.first_unacked_seq();
  sent_through_ = first ? first - 1 : next - 1;
  v1::AgentMessage hello;
  auto* h = hello.mutable_hello();
  h->set_agent_id(c_.agent_id);
  h->set_epoch(c_.buffer.next_epoch());
  h->set_first_unacked_seq(first);
  h->set_next_seq(next);
  h->set_agent_version(EDGESYNC_VERSION);
  h->set_buffer_id(c_.buffer.buffer_id());
  h->set_lane(c_.lane);
  h->add_features(v1::FEATURE_REJECT);
  h->add_features(v1::FEATURE_RECORD_LIMIT);
  h->add_features(v1::FEATURE_LANES);
  if (c_.packer) h->add_features(v1::FEATURE_PACKED_ZSTD);
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
  if (!c_.lane.empty() && std::ranges::count(m.welcome().features(), v1::FEATURE_LANES) == 0) {
    // A hub before 1.4 ignored Hello.lane: it took this stream for the agent's one live stream
    // and would refuse the default lane meanwhile. Leave before sending anything; the lane's
    // records stay buffered (under its own buffer id, so nothing is acked wrongly) until a hub
    // that knows lanes answers.
    spdlog::warn(
        "uplink: hub {} ({}) does not know priority lanes (FEATURE_LANES, hub 1.4); lane '{}' "
        "stays buffered and asks again in {} s: upgrade the hub",
        target_, m.welcome().hub_id(), c_.lane, kNoLanesRetry.count());
    retry_hint_ = kNoLanesRetry;
    return false;
  }
  // Packed batches only when this hub said it takes them (a hub before 1.2 does not).
  packed_ = c_.packer && std::ranges::count(m.welcome().features(), v1::FEATURE_PACKED_ZSTD) > 0;
  const auto durable = m.welcome().durable_through();
  if (durable >= next) {
    // A hub that claims records we never assigned is wrong (or not ours): skip nothing.
    spdlog::warn("uplink: hub {} says durable through {} but our next seq is {}; ignoring it",
                 target_, durable, next);
  } else if (durable > sent_through_) {
    // The hub already has these in Kafka (e.g. acked batch whose ack we lost): skip them.
    c_.acks.apply(durable);
    sent_through_ = durable;
  }
  if (m.welcome().max_batch_records() > 0) {
    max_records_ = std::min<std::size_t>(c_.cfg.batch_max_records, m.welcome().max_batch_records());
  }
  if (m.welcome().max_batch_bytes() > 0) {
    max_bytes_ = std::min<std::size_t>(c_.cfg.batch_max_bytes, m.welcome().max_batch_bytes());
  }
  // 0 from hubs before 1.1 (no limit known): ingest keeps only its own mqtt.max_payload_bytes.
  if (c_.on_record_limit) c_.on_record_limit(m.welcome().max_record_bytes());
  c_.counters.connected = true;
  c_.counters.sessions.fetch_add(1);
  publish_busy(true);
  spdlog::info("uplink: connected to hub {} ({}){}{}, resuming after seq {}{}", target_,
               m.welcome().hub_id(), c_.lane.empty() ? "" : ", lane ", c_.lane, sent_through_,
               packed_ ? ", packed batches (zstd)" : "");
  return true;
}

void UplinkSession::publish_busy(bool connected) {
  if (c_.gate) c_.gate->set_busy(c_.rank, connected && c_.buffer.first_unacked_seq() != 0);
}

void UplinkSession::read_acks(Stream& stream) {
  v1::HubMessage m;
  while (stream.Read(&m)) {
    if (m.has_ack()) {
      const auto through = m.ack().acked_through();
      // Records Kafka refused for good: keep them in the dead-letter table, never resend.
      for (const auto& r : m.ack().rejected()) {
        if (r.seq() > through) continue;  // the protocol lists only covered seqs
        spdlog::warn("uplink: hub rejected seq {} for good ({}); moved to the dead-letter table",
                     r.seq(), r.reason());
        c_.acks.refused(r.seq(), r.reason());  // apply() moves it (or keeps trying)
      }
      {
        std::lock_guard lk(mu_);
        while (!inflight_.empty() && inflight_.front() <= through) inflight_.pop_front();
      }
      c_.acks.apply(through);
      publish_busy(true);  // an acked alert lets the lower lanes go on at once
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

void UplinkSession::send_loop(Stream& stream) {
  const std::size_t window = c_.cfg.max_inflight_batches;
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
    publish_busy(true);
    if (c_.gate && c_.gate->higher_busy(c_.rank)) {
      // A lane of higher priority has records to deliver: it goes first. What this lane has in
      // flight stays there; it sends its next batch once the higher lanes are through.
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, std::chrono::milliseconds(10), [&] { return broken_; });
      continue;
    }
    auto recs = c_.buffer.read_after(sent_through_, max_records_, max_bytes_);
    if (recs.empty()) {
      c_.buffer.wait_for_records(sent_through_, std::chrono::milliseconds(250));
      continue;
    }
    v1::AgentMessage msg;
    if (packed_) {
      c_.packer->pack(++batch_id, recs, *msg.mutable_packed_batch());
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
    if (const auto wait = c_.bucket.take(size); wait.count() > 0) {
      std::unique_lock lk(mu_);
      if (cv_.wait_for(lk, wait, [&] { return broken_; })) return;
    }
    if (stopping()) return;
    {
      std::lock_guard lk(mu_);
      inflight_.push_back(last);
    }
    if (!stream.Write(msg)) return;
    c_.counters.stream_bytes.fetch_add(size, std::memory_order_relaxed);
    if (packed_) c_.counters.packed_batches.fetch_add(1, std::memory_order_relaxed);
    sent_through_ = last;
    c_.counters.batches_sent.fetch_add(1, std::memory_order_relaxed);
    c_.counters.records_sent.fetch_add(recs.size(), std::memory_order_relaxed);
  }
}

}  // namespace edgesync::agent
