#include "agent_monitor.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>

#include "edgesync/common/status_server.hpp"
#include "unix_clock.hpp"

namespace edgesync::agent {
namespace {

// A Prometheus counter fed from a monotonically growing source value.
struct Mirror {
  prometheus::Counter* c = nullptr;
  std::uint64_t last = 0;
  void set(std::uint64_t v) {
    if (v > last) c->Increment(static_cast<double>(v - last));
    last = std::max(last, v);
  }
};

}  // namespace

// The lane-labelled series of one lane.
struct LaneMetrics {
  Mirror committed, acked, dropped;
  prometheus::Gauge *records = nullptr, *oldest = nullptr, *hub_up = nullptr;
};

struct AgentMonitor::Metrics {
  Metrics(prometheus::Registry& r, const std::vector<LaneSource>& lane_sources) {
    auto& l_records = prometheus::BuildGauge()
                          .Name("edgesync_agent_lane_records")
                          .Help("Records stored in the lane's buffer")
                          .Register(r);
    auto& l_oldest = prometheus::BuildGauge()
                         .Name("edgesync_agent_lane_oldest_age_seconds")
                         .Help("Age of the lane's oldest stored record")
                         .Register(r);
    auto& l_hub = prometheus::BuildGauge()
                      .Name("edgesync_agent_lane_hub_connected")
                      .Help("1 when the lane's hub stream is established")
                      .Register(r);
    auto& l_committed = prometheus::BuildCounter()
                            .Name("edgesync_agent_lane_records_committed_total")
                            .Help("Records committed to the lane's buffer")
                            .Register(r);
    auto& l_acked = prometheus::BuildCounter()
                        .Name("edgesync_agent_lane_records_acked_total")
                        .Help("Records of the lane acked by the hub and deleted")
                        .Register(r);
    auto& l_dropped = prometheus::BuildCounter()
                          .Name("edgesync_agent_lane_records_dropped_total")
                          .Help(
                              "Records of the lane dropped without an ack, all reasons "
                              "(by reason: buffer status --lane)")
                          .Register(r);
    for (const auto& ls : lane_sources) {
      const std::map<std::string, std::string> label{
          {"lane", ls.name.empty() ? "default" : ls.name}};
      lanes.push_back({Mirror{&l_committed.Add(label)}, Mirror{&l_acked.Add(label)},
                       Mirror{&l_dropped.Add(label)}, &l_records.Add(label), &l_oldest.Add(label),
                       &l_hub.Add(label)});
    }
    auto counter = [&](const char* name, const char* help) {
      return Mirror{&prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({})};
    };
    auto gauge = [&](const char* name, const char* help) {
      return &prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
    };
    received = counter("edgesync_agent_mqtt_messages_received_total", "MQTT messages received");
    committed =
        counter("edgesync_agent_records_committed_total", "Records committed to the buffer");
    sent = counter("edgesync_agent_records_sent_total", "Records sent to the hub (incl. resends)");
    acked = counter("edgesync_agent_records_acked_total", "Records acked by the hub and deleted");
    stream_bytes = counter("edgesync_agent_uplink_bytes_total",
                           "Bytes of messages written to the hub stream (after packing and zstd, "
                           "before gzip; what uplink.max_bytes_per_s caps)");
    packed_batches = counter("edgesync_agent_uplink_packed_batches_total",
                             "Batches sent as PackedBatch (FEATURE_PACKED_ZSTD)");
    batches = counter("edgesync_agent_uplink_batches_total",
                      "Batches sent to the hub (records per batch = records_sent / batches)");
    mqtt_reconnects = counter("edgesync_agent_mqtt_connects_total", "MQTT (re)connections");
    mqtt_subscriptions =
        counter("edgesync_agent_mqtt_subscriptions_total",
                "Subscriptions the broker acknowledged (SUBACK), over all connects");
    hub_sessions = counter("edgesync_agent_hub_sessions_total", "Hub streams established");
    hub_failures = counter("edgesync_agent_hub_stream_failures_total", "Hub streams that failed");
    commit_errors = counter("edgesync_agent_buffer_commit_errors_total", "Failed SQLite commits");
    commits = counter("edgesync_agent_buffer_commits_total",
                      "SQLite transactions committed (records per commit = committed / commits)");
    quarantined = counter("edgesync_agent_buffer_quarantined_files_total",
                          "Corrupt buffer files moved aside");
    dead_lettered = counter("edgesync_agent_records_dead_lettered_total",
                            "Records the hub refused for good, moved to the dead-letter table "
                            "(persisted across restarts)");
    auto& drops = prometheus::BuildCounter()
                      .Name("edgesync_agent_records_dropped_total")
                      .Help("Records dropped without an ack, by reason (persisted across restarts)")
                      .Register(r);
    for (const DropReason reason : kAllDropReasons) {
      dropped[drop_index(reason)].c = &drops.Add({{"reason", drop_reason_name(reason)}});
    }
    purged.c = &drops.Add({{"reason", kPurgeDropName}});  // seen at the buffer's next refresh
    records = gauge("edgesync_agent_buffer_records", "Records stored in the buffer");
    bytes = gauge("edgesync_agent_buffer_bytes", "Accounted bytes stored (see buffer.max_bytes)");
    oldest = gauge("edgesync_agent_buffer_oldest_age_seconds", "Age of the oldest stored record");
    full = gauge("edgesync_agent_buffer_full", "1 when the buffer is at buffer.max_bytes");
    disk_full = gauge("edgesync_agent_buffer_disk_full",
                      "1 while the disk holding the buffer is full (dropping or holding MQTT)");
    dead_letter_rows =
        gauge("edgesync_agent_buffer_dead_letter_records", "Rows in the dead-letter table");
    mqtt_up = gauge("edgesync_agent_mqtt_connected", "1 when connected to the MQTT broker");
    hub_up = gauge("edgesync_agent_hub_connected", "1 when a hub stream is established");
    acked_seq =
        gauge("edgesync_agent_acked_through_seq", "Highest sequence number acked by the hub");
  }
  Mirror received, committed, sent, acked, mqtt_reconnects, mqtt_subscriptions, hub_sessions,
      hub_failures, stream_bytes, packed_batches, batches, commit_errors, commits, quarantined,
      dead_lettered, dropped[kDropReasons], purged;
  prometheus::Gauge *records, *bytes, *oldest, *full, *disk_full, *dead_letter_rows, *mqtt_up,
      *hub_up, *acked_seq;
  std::vector<LaneMetrics> lanes;  // as Sources::lanes
  std::uint64_t last_acked_through = 0;
  std::int64_t last_sync_ns = 0;
  int ticks = 0;
};

AgentMonitor::AgentMonitor(Sources src, const std::string& listen)
    : src_(std::move(src)),
      registry_(std::make_shared<prometheus::Registry>()),
      m_(std::make_unique<Metrics>(*registry_, src_.lanes)) {
  if (!listen.empty()) {
    server_ = std::make_unique<StatusServer>(listen, registry_, [this](std::string* why) {
      if (!src_.ingest.counters().connected.load()) {
        *why = "not connected to the MQTT broker " + src_.mqtt_uri;
        return false;
      }
      std::vector<std::pair<std::string, BufferMonitor*>> buffers{{"", &src_.buffer}};
      for (const auto& l : src_.lanes) {
        if (!l.name.empty()) buffers.emplace_back(l.name, &l.buffer);
      }
      for (const auto& [lane, buffer] : buffers) {
        const auto st = buffer->stats();
        const std::string which = lane.empty() ? "buffer" : "lane '" + lane + "' buffer";
        if (st.failed) {
          *why = which + " file failed for good (" + st.failure + "); the agent exits";
          return false;
        }
        if (st.disk_full) {
          *why = which + " disk full (see edge-agent buffer status and the log)";
          return false;
        }
      }
      return true;  // the hub may be away: buffering is normal operation
    });
  }
  tick();
}

void AgentMonitor::start() {
  ticker_ = std::jthread([this] {
    std::unique_lock lk(mu_);
    while (!cv_.wait_for(lk, std::chrono::seconds(1), [&] { return stop_; })) {
      lk.unlock();
      tick();
      lk.lock();
    }
  });
}

AgentMonitor::~AgentMonitor() {
  stop();
}

void AgentMonitor::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  server_.reset();
}

int AgentMonitor::port() const {
  return server_ ? server_->port() : 0;
}

void AgentMonitor::tick() {
  const BufferStats b = src_.buffer.stats();
  const auto& in = src_.ingest.counters();
  const auto& up = src_.uplink.counters();
  auto& m = *m_;
  m.received.set(in.received.load());
  m.committed.set(b.committed_total);
  m.sent.set(up.records_sent.load());
  m.stream_bytes.set(up.stream_bytes.load());
  m.packed_batches.set(up.packed_batches.load());
  m.batches.set(up.batches_sent.load());
  m.acked.set(b.acked_total);
  m.mqtt_reconnects.set(in.reconnects.load());
  m.mqtt_subscriptions.set(in.subscribed.load());
  m.hub_sessions.set(up.sessions.load());
  m.hub_failures.set(up.failures.load());
  m.commit_errors.set(b.commit_errors);
  m.commits.set(b.commits);
  m.quarantined.set(b.quarantined_files);
  m.dead_lettered.set(b.dead_lettered);
  for (std::size_t i = 0; i < kDropReasons; ++i) m.dropped[i].set(b.dropped[i]);
  m.purged.set(b.purged);
  m.records->Set(static_cast<double>(b.records));
  m.bytes->Set(static_cast<double>(b.stored_bytes));
  const std::int64_t now = now_unix_ns();
  m.oldest->Set(
      b.oldest_received_unix_ns ? static_cast<double>(now - b.oldest_received_unix_ns) / 1e9 : 0);
  m.full->Set(b.full ? 1 : 0);
  m.disk_full->Set(b.disk_full ? 1 : 0);
  m.dead_letter_rows->Set(static_cast<double>(b.dead_letter_rows));
  const bool mqtt_ok = in.connected.load(), hub_ok = up.connected.load();
  m.mqtt_up->Set(mqtt_ok ? 1 : 0);
  m.hub_up->Set(hub_ok ? 1 : 0);
  const auto acked = up.acked_through.load();
  m.acked_seq->Set(static_cast<double>(acked));
  if (acked > m.last_acked_through) {
    m.last_acked_through = acked;
    m.last_sync_ns = now;
  }
  for (std::size_t i = 0; i < src_.lanes.size(); ++i) {
    const auto& ls = src_.lanes[i];
    auto& lm = m.lanes[i];
    const BufferStats lb = ls.name.empty() ? b : ls.buffer.stats();
    lm.committed.set(lb.committed_total);
    lm.acked.set(lb.acked_total);
    std::uint64_t dropped = lb.purged;
    for (const auto d : lb.dropped) dropped += d;
    lm.dropped.set(dropped);
    lm.records->Set(static_cast<double>(lb.records));
    lm.oldest->Set(lb.oldest_received_unix_ns
                       ? static_cast<double>(now - lb.oldest_received_unix_ns) / 1e9
                       : 0);
    lm.hub_up->Set(ls.uplink.counters().connected.load() ? 1 : 0);
  }
  // The snapshot for `edge-agent buffer status`: every 2 s, one small row update each.
  if (m.ticks++ % 2 == 0) {
    std::string err;
    if (b.disk_full)
      err = "disk full";
    else if (!mqtt_ok)
      err = "MQTT broker " + src_.mqtt_uri + " not connected";
    else if (!hub_ok && up.failures.load() > 0)
      err = "hub " + src_.hub + " not connected";
    else if (b.commit_errors > 0)
      err = std::to_string(b.commit_errors) + " SQLite commit errors (see log)";
    src_.buffer.publish_state({{"hub_state", hub_ok ? "connected" : "disconnected"},
                               {"mqtt_state", mqtt_ok ? "connected" : "disconnected"},
                               {"last_sync_unix_ns", std::to_string(m.last_sync_ns)},
                               {"last_error", err},
                               {"buffer_state", b.disk_full ? "disk full" : "ok"},
                               {"updated_unix_ns", std::to_string(now)}});
    for (const auto& ls : src_.lanes) {  // the other lanes' files: their own hub and disk state
      if (ls.name.empty()) continue;
      const bool up_ok = ls.uplink.counters().connected.load();
      const bool disk_full = ls.buffer.stats().disk_full;
      ls.buffer.publish_state({{"hub_state", up_ok ? "connected" : "disconnected"},
                               {"mqtt_state", mqtt_ok ? "connected" : "disconnected"},
                               {"last_error", disk_full ? "disk full" : (!mqtt_ok ? err : "")},
                               {"buffer_state", disk_full ? "disk full" : "ok"},
                               {"updated_unix_ns", std::to_string(now)}});
    }
  }
}

}  // namespace edgesync::agent
