#include "agent_config.hpp"

#include <array>

#include "edgesync/common/mqtt_topic.hpp"

namespace edgesync::agent {
namespace {

using config::KeyDef;
using config::Type;

constexpr std::int64_t kMaxInt = INT64_MAX;

// The one table of edge-agent config keys: validation and docs/edge-agent-config.md come from it.
// (not reflowed: one row per key reads as the table it is)
// clang-format off
constexpr std::array kKeys = {
    KeyDef{"agent.id", Type::kString, "", true, 0, kMaxInt, {},
           "Agent identity: unique per gateway, stamped on every record (Kafka header "
           "`edgesync-agent`) and checked by the hub against the agent's token or certificate."},

    KeyDef{"mqtt.uri", Type::kString, "tcp://127.0.0.1:1883", false, 0, kMaxInt, {},
           "Local broker address: `tcp://host:port`, or `ssl://host:port` with `mqtt.tls`."},
    KeyDef{"mqtt.client_id", Type::kString, "", false, 0, kMaxInt, {},
           "MQTT client id; empty means `edgesync-<agent.id>`. Keep it stable so the broker keeps "
           "the persistent session across restarts."},
    KeyDef{"mqtt.topics", Type::kStringList, "sensors/#", false, 0, kMaxInt, {},
           "Topic filters to subscribe to (comma separated in the default)."},
    KeyDef{"mqtt.qos", Type::kInt, "1", false, 0, 2, {},
           "Subscription QoS. 1 or 2 let the broker redeliver what the agent did not acknowledge."},
    KeyDef{"mqtt.device_segment", Type::kInt, "1", false, 0, 64, {},
           "Topic level (0-based) holding the device id: `sensors/dev-7/temp` with 1 gives "
           "`dev-7`. A topic with fewer levels uses the whole topic as device id."},
    KeyDef{"mqtt.clean_session", Type::kBool, "false", false, 0, kMaxInt, {},
           "false keeps a persistent session: QoS 1/2 messages published while the agent is down "
           "are queued by the broker and delivered on reconnect."},
    KeyDef{"mqtt.keepalive_s", Type::kInt, "30", false, 1, 3600, {},
           "MQTT keep-alive interval in seconds."},
    KeyDef{"mqtt.username", Type::kString, "", false, 0, kMaxInt, {}, "MQTT user name."},
    KeyDef{"mqtt.password_file", Type::kString, "", false, 0, kMaxInt, {},
           "File holding the MQTT password (e.g. a mounted Secret). Never logged.", true},
    KeyDef{"mqtt.tls.enabled", Type::kBool, "false", false, 0, kMaxInt, {},
           "Use TLS to the broker (use an `ssl://` uri)."},
    KeyDef{"mqtt.tls.ca_file", Type::kString, "", false, 0, kMaxInt, {},
           "PEM CA bundle that signed the broker certificate."},
    KeyDef{"mqtt.tls.cert_file", Type::kString, "", false, 0, kMaxInt, {},
           "PEM client certificate for mutual TLS."},
    KeyDef{"mqtt.tls.key_file", Type::kString, "", false, 0, kMaxInt, {},
           "PEM private key of the client certificate.", true},
    KeyDef{"mqtt.max_payload_bytes", Type::kInt, "1048576", false, 1, 268435455, {},
           "Larger messages are dropped, counted and logged with their topic."},

    KeyDef{"buffer.path", Type::kString, "/var/lib/edgesync/buffer.db", false, 0, kMaxInt, {},
           "SQLite database file (WAL mode). Its directory must exist and be writable."},
    KeyDef{"buffer.synchronous", Type::kEnum, "full", false, 0, kMaxInt, "normal|full",
           "`full`: every commit is fsynced, a committed record survives power loss. `normal`: "
           "survives a process crash (kill -9) but a power cut may lose the last commits; fewer "
           "writes (SD card wear)."},
    KeyDef{"buffer.commit_window_records", Type::kInt, "256", false, 0, 1000000, {},
           "Most MQTT messages that may be acknowledged to the broker (Paho acks before the "
           "agent sees a message) but not yet committed to SQLite. This is the bound on what a "
           "hard crash can lose. 0 = each message is committed before the next is read."},
    KeyDef{"buffer.commit_delay_ms", Type::kInt, "20", false, 0, 1000, {},
           "How long the writer may wait for more messages before a commit, so that a low "
           "message rate makes fewer, larger commits (each commit rewrites at least one page "
           "and fsyncs: SD card wear). A full window commits at once. Adds at most this much "
           "latency; the crash bound stays `commit_window_records`. Ignored when the window is 0. "
           "Measured at 1,000 msg/s: 20 ms writes 3.7x fewer bytes per record than 0 for 8 ms "
           "more median latency (docs/benchmarks.md)."},
    KeyDef{"buffer.max_commit_batch", Type::kInt, "2000", false, 1, 1000000, {},
           "Most records in one SQLite transaction (group commit)."},
    KeyDef{"buffer.max_bytes", Type::kInt, "536870912", false, 0, kMaxInt, {},
           "Bound of the buffer: sum over stored records of payload + topic + device id + 32 "
           "bytes. 0 = unbounded. The database file is somewhat larger (pages, index)."},
    KeyDef{"buffer.max_age_s", Type::kInt, "604800", false, 0, kMaxInt, {},
           "Records older than this (by MQTT receive time) are dropped and counted as "
           "`expired`. 0 = keep forever."},
    KeyDef{"buffer.full_policy", Type::kEnum, "drop-oldest", false, 0, kMaxInt,
           "drop-oldest|block",
           "At `max_bytes`: `drop-oldest` deletes the oldest records (counted as `oldest`); "
           "`block` stops taking MQTT messages (the broker queues them for the persistent "
           "session) until acks free space. Also applies when the disk is full: `drop-oldest` "
           "then deletes the oldest records (counted as `disk_full`), `block` holds MQTT until "
           "space returns."},
    KeyDef{"buffer.disk_reserve_bytes", Type::kInt, "2097152", false, 0, 1073741824, {},
           "Disk space held back in `<path>.reserve` (preallocated). When the disk fills, the "
           "agent deletes it so that it can still write the transaction that drops the oldest "
           "records (`drop-oldest`), its counters and state, and open the buffer after a restart "
           "on a full disk; it is created again once twice its size is free. 0 = no reserve."},
    KeyDef{"buffer.quick_check", Type::kBool, "true", false, 0, kMaxInt, {},
           "Run `PRAGMA quick_check` at start-up; a corrupt or unreadable file is renamed to "
           "`<path>.corrupt-<time>` and the agent starts with an empty buffer."},

    KeyDef{"uplink.hub", Type::kString, "", true, 0, kMaxInt, {},
           "Hub address `host:port` (gRPC target syntax, e.g. `dns:///hub.example.com:7443`)."},
    KeyDef{"uplink.token_file", Type::kString, "", false, 0, kMaxInt, {},
           "File holding the agent token, sent as `authorization: Bearer …`. Read again at "
           "every reconnect (rotation without a restart; an empty or unreadable file keeps the "
           "last token). Never logged.", true},
    KeyDef{"uplink.tls.enabled", Type::kBool, "false", false, 0, kMaxInt, {},
           "TLS to the hub (mutual TLS when cert_file/key_file are set)."},
    KeyDef{"uplink.tls.ca_file", Type::kString, "", false, 0, kMaxInt, {},
           "PEM CA bundle for the hub certificate; empty uses the system roots."},
    KeyDef{"uplink.tls.cert_file", Type::kString, "", false, 0, kMaxInt, {},
           "PEM agent certificate (mTLS)."},
    KeyDef{"uplink.tls.key_file", Type::kString, "", false, 0, kMaxInt, {},
           "PEM private key of the agent certificate.", true},
    KeyDef{"uplink.tls.server_name", Type::kString, "", false, 0, kMaxInt, {},
           "Expected hub certificate name when it differs from the address host."},
    KeyDef{"uplink.batch_max_records", Type::kInt, "500", false, 1, 100000, {},
           "Most records per batch sent to the hub."},
    KeyDef{"uplink.batch_max_bytes", Type::kInt, "1048576", false, 1024, 67108864, {},
           "Most bytes per batch (a single larger record is still sent alone)."},
    KeyDef{"uplink.max_inflight_batches", Type::kInt, "16", false, 1, 1024, {},
           "Batches sent but not yet acked; bounds memory and resend work after a reconnect."},
    KeyDef{"uplink.backoff_initial_ms", Type::kInt, "200", false, 1, 600000, {},
           "First reconnect wait ceiling; each wait is uniform in [0, ceiling] (full jitter)."},
    KeyDef{"uplink.backoff_max_ms", Type::kInt, "30000", false, 1, 3600000, {},
           "Cap of the reconnect wait ceiling, which doubles per failed attempt."},
    KeyDef{"uplink.keepalive_ms", Type::kInt, "20000", false, 1000, 3600000, {},
           "gRPC keep-alive ping interval: a dead link is noticed within about twice this."},
    KeyDef{"uplink.compression", Type::kEnum, "zstd", false, 0, kMaxInt, "none|gzip|zstd",
           "`zstd`: packed batches (each device id and topic once per batch, seq and time as "
           "deltas, zstd) when the hub offers them (FEATURE_PACKED_ZSTD), else plain batches "
           "uncompressed (a hub before 1.2). `gzip`: gRPC message compression of plain batches. "
           "`none`: plain batches. Measured on sensor JSON, 100 records per batch: see "
           "docs/benchmarks.md (P7). Acks and the guarantee are the same for all three."},
    KeyDef{"uplink.zstd_level", Type::kInt, "1", false, 1, 19, {},
           "zstd compression level of packed batches. Higher levels cost the agent more CPU for "
           "a few percent fewer bytes (P7)."},
    KeyDef{"uplink.max_bytes_per_s", Type::kInt, "0", false, 0, kMaxInt, {},
           "Bandwidth cap: bytes per second the agent writes to the hub stream (messages as "
           "sent, after packing and zstd; before gzip, which gRPC applies later), a token "
           "bucket one second deep that paces live traffic and the backlog drain alike. "
           "0 = unlimited. A batch larger than a second's worth waits until the bucket has paid "
           "for it, so keep `batch_max_bytes` below the cap."},

    KeyDef{"metrics.listen", Type::kString, "0.0.0.0:9102", false, 0, kMaxInt, {},
           "`host:port` for `/healthz`, `/readyz` and Prometheus `/metrics`; empty disables."},

    KeyDef{"log.level", Type::kEnum, "info", false, 0, kMaxInt, "trace|debug|info|warn|error",
           "Log level."},
    KeyDef{"log.format", Type::kEnum, "text", false, 0, kMaxInt, "text|json",
           "Log line format (stderr)."},
};
// clang-format on

constexpr config::Schema kSchema{"edge-agent", kKeys};

TlsFiles tls_from(const config::Values& v, const std::string& prefix) {
  return TlsFiles{v.boolean(prefix + ".enabled"), v.str(prefix + ".ca_file"),
                  v.str(prefix + ".cert_file"), v.str(prefix + ".key_file")};
}

}  // namespace

const config::Schema& agent_schema() {
  return kSchema;
}

AgentConfig agent_config_from(const config::Values& v) {
  AgentConfig c;
  c.agent_id = v.str("agent.id");
  if (c.agent_id.empty() || c.agent_id.size() > 128) {
    throw config::ConfigError(v.where("agent.id") + ": key 'agent.id': must be 1-128 characters");
  }
  c.mqtt.uri = v.str("mqtt.uri");
  c.mqtt.client_id = v.str("mqtt.client_id");
  if (c.mqtt.client_id.empty()) c.mqtt.client_id = "edgesync-" + c.agent_id;
  c.mqtt.topics = v.list("mqtt.topics");
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
  c.mqtt.qos = static_cast<int>(v.integer("mqtt.qos"));
  c.mqtt.device_segment = static_cast<int>(v.integer("mqtt.device_segment"));
  c.mqtt.clean_session = v.boolean("mqtt.clean_session");
  c.mqtt.keepalive_s = static_cast<int>(v.integer("mqtt.keepalive_s"));
  c.mqtt.username = v.str("mqtt.username");
  c.mqtt.password_file = v.str("mqtt.password_file");
  c.mqtt.tls = tls_from(v, "mqtt.tls");
  c.mqtt.max_payload_bytes = static_cast<std::size_t>(v.integer("mqtt.max_payload_bytes"));

  c.buffer.path = v.str("buffer.path");
  c.buffer.synchronous_full = v.str("buffer.synchronous") == "full";
  c.buffer.commit_window = static_cast<std::size_t>(v.integer("buffer.commit_window_records"));
  c.buffer.commit_delay = std::chrono::milliseconds(v.integer("buffer.commit_delay_ms"));
  c.buffer.max_commit_batch = static_cast<std::size_t>(v.integer("buffer.max_commit_batch"));
  c.buffer.max_bytes = static_cast<std::uint64_t>(v.integer("buffer.max_bytes"));
  c.buffer.max_age = std::chrono::seconds(v.integer("buffer.max_age_s"));
  c.buffer.block_when_full = v.str("buffer.full_policy") == "block";
  c.buffer.quick_check = v.boolean("buffer.quick_check");
  c.buffer.disk_reserve_bytes = static_cast<std::uint64_t>(v.integer("buffer.disk_reserve_bytes"));
  c.metrics_listen = v.str("metrics.listen");

  c.uplink.hub = v.str("uplink.hub");
  c.uplink.token_file = v.str("uplink.token_file");
  c.uplink.tls = tls_from(v, "uplink.tls");
  c.uplink.server_name = v.str("uplink.tls.server_name");
  c.uplink.batch_max_records = static_cast<std::size_t>(v.integer("uplink.batch_max_records"));
  c.uplink.batch_max_bytes = static_cast<std::size_t>(v.integer("uplink.batch_max_bytes"));
  c.uplink.max_inflight_batches =
      static_cast<std::size_t>(v.integer("uplink.max_inflight_batches"));
  c.uplink.backoff_initial = std::chrono::milliseconds(v.integer("uplink.backoff_initial_ms"));
  c.uplink.backoff_max = std::chrono::milliseconds(v.integer("uplink.backoff_max_ms"));
  c.uplink.keepalive = std::chrono::milliseconds(v.integer("uplink.keepalive_ms"));
  const auto comp = v.str("uplink.compression");
  c.uplink.compression = comp == "gzip"   ? AgentConfig::Uplink::Compression::kGzip
                         : comp == "none" ? AgentConfig::Uplink::Compression::kNone
                                          : AgentConfig::Uplink::Compression::kZstd;
  c.uplink.zstd_level = static_cast<int>(v.integer("uplink.zstd_level"));
  c.uplink.max_bytes_per_s = static_cast<std::uint64_t>(v.integer("uplink.max_bytes_per_s"));

  c.log_level = v.str("log.level");
  c.log_format = v.str("log.format");
  return c;
}

AgentConfig load_agent_config(const std::string& path) {
  return agent_config_from(config::load_file(kSchema, path));
}

}  // namespace edgesync::agent
