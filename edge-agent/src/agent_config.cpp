#include "agent_config.hpp"

#include <algorithm>
#include <array>
#include <set>

#include "edgesync/common/mqtt_topic.hpp"

namespace edgesync::agent {
namespace {

using config::KeyDef;
using config::Type;

constexpr std::int64_t kMaxInt = INT64_MAX;

template <class Access>
constexpr config::BoundKey<AgentConfig> bind(Access member, KeyDef key) {
  return config::bind<AgentConfig>(member, key);
}

constexpr config::BoundKey<AgentConfig> unbound(KeyDef key) {
  return config::unbound<AgentConfig>(key);
}

// The one table of edge-agent config keys: validation and docs/edge-agent-config.md come from it.
// Each row is bound to the AgentConfig member it sets; the member's initializer is the default
// (so the default column stays `{}`). (not reflowed: one row per key reads as the table it is)
// clang-format off
constexpr std::array kKeys = {
    bind(EDGESYNC_FIELD(agent_id),
         KeyDef{"agent.id", Type::kString, {}, true, 0, kMaxInt, {},
                "Agent identity: unique per gateway, stamped on every record (Kafka header "
                "`edgesync-agent`) and checked by the hub against the agent's token or certificate."}),

    bind(EDGESYNC_FIELD(mqtt.uri),
         KeyDef{"mqtt.uri", Type::kString, {}, false, 0, kMaxInt, {},
                "Local broker address: `tcp://host:port`, or `ssl://host:port` with `mqtt.tls`."}),
    bind(EDGESYNC_FIELD(mqtt.client_id),
         KeyDef{"mqtt.client_id", Type::kString, {}, false, 0, kMaxInt, {},
                "MQTT client id; empty means `edgesync-<agent.id>`. Keep it stable so the broker keeps "
                "the persistent session across restarts."}),
    bind(EDGESYNC_FIELD(mqtt.topics),
         KeyDef{"mqtt.topics", Type::kStringList, {}, false, 0, kMaxInt, {},
                "Topic filters to subscribe to (comma separated in the default)."}),
    bind(EDGESYNC_FIELD(mqtt.qos),
         KeyDef{"mqtt.qos", Type::kInt, {}, false, 0, 2, {},
                "Subscription QoS. 1 or 2 let the broker redeliver what the agent did not acknowledge."}),
    bind(EDGESYNC_FIELD(mqtt.device_segment),
         KeyDef{"mqtt.device_segment", Type::kInt, {}, false, 0, 64, {},
                "Topic level (0-based) holding the device id: `sensors/dev-7/temp` with 1 gives "
                "`dev-7`. A topic with fewer levels uses the whole topic as device id."}),
    bind(EDGESYNC_FIELD(mqtt.clean_session),
         KeyDef{"mqtt.clean_session", Type::kBool, {}, false, 0, kMaxInt, {},
                "false keeps a persistent session: QoS 1/2 messages published while the agent is down "
                "are queued by the broker and delivered on reconnect."}),
    bind(EDGESYNC_FIELD(mqtt.keepalive_s),
         KeyDef{"mqtt.keepalive_s", Type::kInt, {}, false, 1, 3600, {},
                "MQTT keep-alive interval in seconds."}),
    bind(EDGESYNC_FIELD(mqtt.username),
         KeyDef{"mqtt.username", Type::kString, {}, false, 0, kMaxInt, {}, "MQTT user name."}),
    bind(EDGESYNC_FIELD(mqtt.password_file),
         KeyDef{"mqtt.password_file", Type::kString, {}, false, 0, kMaxInt, {},
                "File holding the MQTT password (e.g. a mounted Secret). Never logged.", true}),
    bind(EDGESYNC_FIELD(mqtt.tls.enabled),
         KeyDef{"mqtt.tls.enabled", Type::kBool, {}, false, 0, kMaxInt, {},
                "Use TLS to the broker (use an `ssl://` uri)."}),
    bind(EDGESYNC_FIELD(mqtt.tls.ca_file),
         KeyDef{"mqtt.tls.ca_file", Type::kString, {}, false, 0, kMaxInt, {},
                "PEM CA bundle that signed the broker certificate."}),
    bind(EDGESYNC_FIELD(mqtt.tls.cert_file),
         KeyDef{"mqtt.tls.cert_file", Type::kString, {}, false, 0, kMaxInt, {},
                "PEM client certificate for mutual TLS."}),
    bind(EDGESYNC_FIELD(mqtt.tls.key_file),
         KeyDef{"mqtt.tls.key_file", Type::kString, {}, false, 0, kMaxInt, {},
                "PEM private key of the client certificate.", true}),
    bind(EDGESYNC_FIELD(mqtt.max_payload_bytes),
         KeyDef{"mqtt.max_payload_bytes", Type::kInt, {}, false, 1, 268435455, {},
                "Larger messages are dropped, counted and logged with their topic."}),

    bind(EDGESYNC_FIELD(buffer.path),
         KeyDef{"buffer.path", Type::kString, {}, false, 0, kMaxInt, {},
                "SQLite database file (WAL mode). Its directory must exist and be writable."}),
    bind(EDGESYNC_FIELD(buffer.synchronous_full),
         KeyDef{"buffer.synchronous", Type::kEnum, {}, false, 0, kMaxInt, "normal|full",
                "`full`: every commit is fsynced, a committed record survives power loss. `normal`: "
                "survives a process crash (kill -9) but a power cut may lose the last commits; fewer "
                "writes (SD card wear)."}),
    bind(EDGESYNC_FIELD(buffer.commit_window),
         KeyDef{"buffer.commit_window_records", Type::kInt, {}, false, 0, 1000000, {},
                "Most MQTT messages that may be acknowledged to the broker (Paho acks before the "
                "agent sees a message) but not yet committed to SQLite. This is the bound on what a "
                "hard crash can lose. 0 = each message is committed before the next is read."}),
    bind(EDGESYNC_FIELD(buffer.commit_delay),
         KeyDef{"buffer.commit_delay_ms", Type::kInt, {}, false, 0, 1000, {},
                "How long the writer may wait for more messages before a commit, so that a low "
                "message rate makes fewer, larger commits (each commit rewrites its last pages and "
                "fsyncs: SD card wear). A full window commits at once, so the crash bound stays "
                "`commit_window_records`; what grows is the latency, by at most this much. Ignored "
                "when the window is 0. Measured (bench/p5_wear.sh): at 100 msg/s 1000 writes 2.7x "
                "the payload bytes per record, 500 3.2x, 20 24x; from ~256 msg/s on the full window "
                "commits first. Set 20 where latency matters more than the card (docs/benchmarks.md)."}),
    bind(EDGESYNC_FIELD(buffer.max_commit_batch),
         KeyDef{"buffer.max_commit_batch", Type::kInt, {}, false, 1, 1000000, {},
                "Most records in one SQLite transaction (group commit)."}),
    bind(EDGESYNC_FIELD(buffer.max_bytes),
         KeyDef{"buffer.max_bytes", Type::kInt, {}, false, 0, kMaxInt, {},
                "Bound of the buffer: sum over stored records of payload + topic + device id + 32 "
                "bytes. 0 = unbounded. The database file is somewhat larger (pages, index)."}),
    bind(EDGESYNC_FIELD(buffer.max_age),
         KeyDef{"buffer.max_age_s", Type::kInt, {}, false, 0, kMaxInt, {},
                "Records older than this (by MQTT receive time) are dropped and counted as "
                "`expired`. 0 = keep forever."}),
    bind(EDGESYNC_FIELD(buffer.full_policy),
         KeyDef{"buffer.full_policy", Type::kEnum, {}, false, 0, kMaxInt,
                "drop-oldest|block",
                "At `max_bytes`: `drop-oldest` deletes the oldest records (counted as `oldest`); "
                "`block` stops taking MQTT messages (the broker queues them for the persistent "
                "session) until acks free space. Also applies when the disk is full: `drop-oldest` "
                "then deletes the oldest records (counted as `disk_full`), `block` holds MQTT until "
                "space returns."}),
    bind(EDGESYNC_FIELD(buffer.disk_reserve_bytes),
         KeyDef{"buffer.disk_reserve_bytes", Type::kInt, {}, false, 0, 1073741824, {},
                "Disk space held back in `<path>.reserve` (preallocated). When the disk fills, the "
                "agent deletes it so that it can still write the transaction that drops the oldest "
                "records (`drop-oldest`), its counters and state, and open the buffer after a restart "
                "on a full disk; it is created again once twice its size is free. 0 = no reserve."}),
    bind(EDGESYNC_FIELD(buffer.quick_check),
         KeyDef{"buffer.quick_check", Type::kBool, {}, false, 0, kMaxInt, {},
                "Run `PRAGMA quick_check` at start-up; a corrupt or unreadable file is renamed to "
                "`<path>.corrupt-<time>` and the agent starts with an empty buffer."}),

    unbound(KeyDef{"lanes", Type::kObjectList, {}, false, 0, kMaxInt, {},
                   "Priority lanes: a message whose topic matches a lane's filter (first lane by "
                   "priority) goes to the lane's own buffer file and hub stream instead of the default "
                   "lane (`buffer.*`). Lanes drain before the default lane, and a new message of a higher "
                   "lane overtakes any backlog of a lower one. Each lane has its own bounds, drop policy "
                   "and sequence space (docs/edge-agent.md, Lanes). Needs a hub from 1.4 (FEATURE_LANES); "
                   "an older hub gets the default lane only."}),
    unbound(KeyDef{"lanes[].name", Type::kString, {}, true, 0, kMaxInt, {},
                   "1-32 characters of `a-z 0-9 _ -`, unique. Names the lane to the hub and in metrics."}),
    unbound(KeyDef{"lanes[].topics", Type::kStringList, {}, true, 0, kMaxInt, {},
                   "MQTT topic filters of the lane; subscribed beside `mqtt.topics`."}),
    unbound(KeyDef{"lanes[].priority", Type::kInt, "0", false, 0, 9, {},
                   "0 drains first. Lanes of equal priority keep their config order; the default "
                   "lane comes after every lane."}),
    unbound(KeyDef{"lanes[].path", Type::kString, {}, false, 0, kMaxInt, {},
                   "Buffer file of the lane; empty: `buffer.path` with `.<name>` before the extension."}),
    unbound(KeyDef{"lanes[].max_bytes", Type::kInt, {}, false, 0, kMaxInt, {},
                   "The lane's own bound (as `buffer.max_bytes`, which is its default)."}),
    unbound(KeyDef{"lanes[].max_age_s", Type::kInt, {}, false, 0, kMaxInt, {},
                   "Time to live of the lane's records (as `buffer.max_age_s`, its default): older "
                   "ones are dropped, counted as `expired`."}),
    unbound(KeyDef{"lanes[].full_policy", Type::kEnum, {}, false, 0, kMaxInt, "drop-oldest|block",
                   "At the lane's `max_bytes` or on a full disk (as `buffer.full_policy`, its default). "
                   "`block` holds the whole MQTT session, every lane's messages with it."}),
    unbound(KeyDef{"lanes[].commit_delay_ms", Type::kInt, "0", false, 0, 1000, {},
                   "As `buffer.commit_delay_ms`, for the lane: 0 commits each message at once (an "
                   "alert waits for nobody), at the cost of more writes per record."}),

    bind(EDGESYNC_FIELD(uplink.hub),
         KeyDef{"uplink.hub", Type::kString, {}, true, 0, kMaxInt, {},
                "Hub address `host:port` (gRPC target syntax, e.g. `dns:///hub.example.com:7443`)."}),
    bind(EDGESYNC_FIELD(uplink.token_file),
         KeyDef{"uplink.token_file", Type::kString, {}, false, 0, kMaxInt, {},
                "File holding the agent token, sent as `authorization: Bearer …`. Read again at "
                "every reconnect (rotation without a restart; an empty or unreadable file keeps the "
                "last token). Never logged.", true}),
    bind(EDGESYNC_FIELD(uplink.tls.enabled),
         KeyDef{"uplink.tls.enabled", Type::kBool, {}, false, 0, kMaxInt, {},
                "TLS to the hub (mutual TLS when cert_file/key_file are set)."}),
    bind(EDGESYNC_FIELD(uplink.tls.ca_file),
         KeyDef{"uplink.tls.ca_file", Type::kString, {}, false, 0, kMaxInt, {},
                "PEM CA bundle for the hub certificate; empty uses the system roots."}),
    bind(EDGESYNC_FIELD(uplink.tls.cert_file),
         KeyDef{"uplink.tls.cert_file", Type::kString, {}, false, 0, kMaxInt, {},
                "PEM agent certificate (mTLS)."}),
    bind(EDGESYNC_FIELD(uplink.tls.key_file),
         KeyDef{"uplink.tls.key_file", Type::kString, {}, false, 0, kMaxInt, {},
                "PEM private key of the agent certificate.", true}),
    bind(EDGESYNC_FIELD(uplink.server_name),
         KeyDef{"uplink.tls.server_name", Type::kString, {}, false, 0, kMaxInt, {},
                "Expected hub certificate name when it differs from the address host."}),
    bind(EDGESYNC_FIELD(uplink.batch_max_records),
         KeyDef{"uplink.batch_max_records", Type::kInt, {}, false, 1, 100000, {},
                "Most records per batch sent to the hub."}),
    bind(EDGESYNC_FIELD(uplink.batch_max_bytes),
         KeyDef{"uplink.batch_max_bytes", Type::kInt, {}, false, 1024, 67108864, {},
                "Most bytes per batch (a single larger record is still sent alone)."}),
    bind(EDGESYNC_FIELD(uplink.max_inflight_batches),
         KeyDef{"uplink.max_inflight_batches", Type::kInt, {}, false, 1, 1024, {},
                "Batches sent but not yet acked; bounds memory and resend work after a reconnect."}),
    bind(EDGESYNC_FIELD(uplink.backoff_initial),
         KeyDef{"uplink.backoff_initial_ms", Type::kInt, {}, false, 1, 600000, {},
                "First reconnect wait ceiling; each wait is uniform in [0, ceiling] (full jitter)."}),
    bind(EDGESYNC_FIELD(uplink.backoff_max),
         KeyDef{"uplink.backoff_max_ms", Type::kInt, {}, false, 1, 3600000, {},
                "Cap of the reconnect wait ceiling, which doubles per failed attempt."}),
    bind(EDGESYNC_FIELD(uplink.keepalive),
         KeyDef{"uplink.keepalive_ms", Type::kInt, {}, false, 1000, 3600000, {},
                "gRPC keep-alive ping interval: a dead link is noticed within about twice this."}),
    bind(EDGESYNC_FIELD(uplink.compression),
         KeyDef{"uplink.compression", Type::kEnum, {}, false, 0, kMaxInt, "none|gzip|zstd",
                "`zstd`: packed batches (each device id and topic once per batch, seq and time as "
                "deltas, zstd) when the hub offers them (FEATURE_PACKED_ZSTD), else plain batches "
                "uncompressed (a hub before 1.2). `gzip`: gRPC message compression of plain batches. "
                "`none`: plain batches. Measured on sensor JSON, 100 records per batch: see "
                "docs/benchmarks.md (P7). Acks and the guarantee are the same for all three."}),
    bind(EDGESYNC_FIELD(uplink.zstd_level),
         KeyDef{"uplink.zstd_level", Type::kInt, {}, false, 1, 19, {},
                "zstd compression level of packed batches. Higher levels cost the agent more CPU for "
                "a few percent fewer bytes (P7)."}),
    bind(EDGESYNC_FIELD(uplink.max_bytes_per_s),
         KeyDef{"uplink.max_bytes_per_s", Type::kInt, {}, false, 0, kMaxInt, {},
                "Bandwidth cap: bytes per second the agent writes to the hub stream (messages as "
                "sent, after packing and zstd; before gzip, which gRPC applies later), a token "
                "bucket one second deep that paces live traffic and the backlog drain alike. "
                "0 = unlimited. A batch larger than a second's worth waits until the bucket has paid "
                "for it, so keep `batch_max_bytes` below the cap."}),

    bind(EDGESYNC_FIELD(metrics_listen),
         KeyDef{"metrics.listen", Type::kString, {}, false, 0, kMaxInt, {},
                "`host:port` for `/healthz`, `/readyz` and Prometheus `/metrics`; empty disables."}),

    bind(EDGESYNC_FIELD(log_level),
         KeyDef{"log.level", Type::kEnum, {}, false, 0, kMaxInt, "trace|debug|info|warn|error",
                "Log level."}),
    bind(EDGESYNC_FIELD(log_format),
         KeyDef{"log.format", Type::kEnum, {}, false, 0, kMaxInt, "text|json",
                "Log line format (stderr)."}),
};
// clang-format on

bool valid_lane_name(const std::string& n) {
  return !n.empty() && n.size() <= 32 && std::ranges::all_of(n, [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
}

// lanes[]: each lane starts from buffer.* and applies its own keys.
void load_lanes(const config::Values& v, AgentConfig& c) {
  std::set<std::string> names, paths{c.buffer.path};
  for (const auto& l : v.objects("lanes")) {
    auto fail = [&](const char* key, const std::string& what) {
      throw config::ConfigError(l.where(key) + ": key 'lanes[]." + key + "': " + what);
    };
    AgentConfig::Lane lane;
    lane.name = l.str("name");
    if (!valid_lane_name(lane.name)) fail("name", "'" + lane.name + "' is not 1-32 of a-z 0-9 _ -");
    if (!names.insert(lane.name).second) fail("name", "'" + lane.name + "' is used twice");
    lane.topics = l.list("topics");
    if (lane.topics.empty()) fail("topics", "needs at least one filter");
    for (const auto& t : lane.topics) {
      if (!valid_topic_filter(t)) fail("topics", "'" + t + "' is not a valid MQTT topic filter");
    }
    lane.priority = static_cast<int>(l.integer("priority"));
    lane.buffer = c.buffer;
    lane.buffer.path =
        l.str("path").empty() ? lane_buffer_path(c.buffer.path, lane.name) : l.str("path");
    if (!paths.insert(lane.buffer.path).second) {
      fail("path", "'" + lane.buffer.path + "' is the file of another lane or of buffer.path");
    }
    if (l.has("max_bytes"))
      lane.buffer.max_bytes = static_cast<std::uint64_t>(l.integer("max_bytes"));
    if (l.has("max_age_s")) lane.buffer.max_age = std::chrono::seconds(l.integer("max_age_s"));
    if (l.has("full_policy")) {
      lane.buffer.full_policy =
          l.str("full_policy") == "block" ? FullPolicy::kBlock : FullPolicy::kDropOldest;
    }
    lane.buffer.commit_delay = std::chrono::milliseconds(l.integer("commit_delay_ms"));
    c.lanes.push_back(std::move(lane));
  }
  std::ranges::stable_sort(c.lanes, {}, &AgentConfig::Lane::priority);
}

}  // namespace

std::string lane_buffer_path(const std::string& buffer_path, const std::string& lane) {
  const auto slash = buffer_path.find_last_of('/');
  const auto dot = buffer_path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash) ||
      dot == (slash == std::string::npos ? 0 : slash + 1)) {
    return buffer_path + "." + lane;
  }
  return buffer_path.substr(0, dot) + "." + lane + buffer_path.substr(dot);
}

const config::BoundSchema<AgentConfig>& agent_bound_schema() {
  static const config::BoundSchema<AgentConfig> schema("edge-agent", kKeys);
  return schema;
}

const config::Schema& agent_schema() {
  return agent_bound_schema().schema();
}

AgentConfig agent_config_from(const config::Values& v) {
  AgentConfig c;
  agent_bound_schema().load(v, c);
  if (c.agent_id.empty() || c.agent_id.size() > 128) {
    throw config::ConfigError(v.where("agent.id") + ": key 'agent.id': must be 1-128 characters");
  }
  if (c.mqtt.client_id.empty()) c.mqtt.client_id = "edgesync-" + c.agent_id;
  for (const auto& t : c.mqtt.topics) {
    if (!valid_topic_filter(t)) {
      throw config::ConfigError(v.where("mqtt.topics") + ": key 'mqtt.topics': '" + t +
                                "' is not a valid MQTT topic filter");
    }
  }
  if (c.mqtt.topics.empty()) {
    throw config::ConfigError(v.where("mqtt.topics") +
                              ": key 'mqtt.topics': needs at least one filter");
  }
  load_lanes(v, c);
  // Lanes' filters are subscribed beside mqtt.topics, unless a filter there covers them already
  // (a broker may deliver a message once per matching subscription).
  for (const auto& lane : c.lanes) {
    for (const auto& t : lane.topics) {
      if (std::ranges::none_of(c.mqtt.topics, [&](const auto& f) { return topic_matches(f, t); })) {
        c.mqtt.topics.push_back(t);
      }
    }
  }
  return c;
}

AgentConfig load_agent_config(const std::string& path, std::string_view hint) {
  return agent_config_from(config::load_file(agent_schema(), path, hint));
}

}  // namespace edgesync::agent
