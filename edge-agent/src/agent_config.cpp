#include "agent_config.hpp"

#include <array>

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

}  // namespace

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
  return c;
}

AgentConfig load_agent_config(const std::string& path, std::string_view hint) {
  return agent_config_from(config::load_file(agent_schema(), path, hint));
}

}  // namespace edgesync::agent
