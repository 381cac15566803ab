#include "hub_config.hpp"

#include <unistd.h>

#include <array>

#include "edgesync/common/mqtt_topic.hpp"

namespace edgesync::hub {
namespace {

using config::KeyDef;
using config::Type;
constexpr std::int64_t kMaxInt = INT64_MAX;

// The one table of cloud-hub config keys: validation and docs/cloud-hub-config.md come from it.
// (not reflowed: one row per key reads as the table it is)
// clang-format off
constexpr std::array kKeys = {
    KeyDef{"hub.listen", Type::kString, "0.0.0.0:7443", false, 0, kMaxInt, {},
           "gRPC listen address `host:port`."},
    KeyDef{"hub.id", Type::kString, "", false, 0, kMaxInt, {},
           "Name of this replica in logs and welcomes; empty = host name."},
    KeyDef{"hub.shutdown_grace_ms", Type::kInt, "20000", false, 0, 3600000, {},
           "On SIGTERM: stop reading new batches, wait this long for Kafka to confirm what is in "
           "flight and ack it, then close streams and exit."},
    KeyDef{"hub.max_batch_records", Type::kInt, "5000", false, 1, 1000000, {},
           "Largest batch accepted (records); announced to agents in the welcome."},
    KeyDef{"hub.max_batch_bytes", Type::kInt, "4194304", false, 1024, 268435456, {},
           "Largest batch accepted (bytes); also the gRPC max receive message size."},
    KeyDef{"hub.max_inflight_records", Type::kInt, "20000", false, 1, 10000000, {},
           "Per stream: records handed to Kafka but not yet confirmed. When reached, the hub "
           "stops reading from that agent (backpressure through HTTP/2 flow control)."},
    KeyDef{"hub.max_inflight_records_total", Type::kInt, "500000", false, 1, 100000000, {},
           "Hub-wide: records handed to Kafka but not yet confirmed, all streams together. When "
           "reached (Kafka slow or down), every stream stops reading; memory stays bounded."},
    KeyDef{"hub.slow_down_ms", Type::kInt, "1000", false, 10, 600000, {},
           "A stream blocked this long by backpressure gets a `SlowDown` message with "
           "`retry_after_ms` = this value (repeated while it stays blocked); the agent pauses "
           "sending and keeps buffering."},
    KeyDef{"hub.max_streams", Type::kInt, "12000", false, 1, 1000000, {},
           "Streams open at once on this replica, all agents together. One more is refused with "
           "`RESOURCE_EXHAUSTED` before anything is read (the agent retries with backoff; scale "
           "out or raise this)."},
    KeyDef{"hub.max_streams_per_connection", Type::kInt, "8", false, 1, 100000, {},
           "Streams open at once on one TCP connection (an agent uses one). One more is refused "
           "with `RESOURCE_EXHAUSTED`."},
    KeyDef{"hub.hello_timeout_ms", Type::kInt, "5000", false, 100, 600000, {},
           "A stream must send its hello within this time after it opens, or it is ended with "
           "`DEADLINE_EXCEEDED`."},
    KeyDef{"hub.max_inflight_bytes", Type::kInt, "268435456", false, 1048576, 68719476736, {},
           "Hub-wide: bytes of batches read from agents and not yet confirmed by Kafka. When "
           "reached, streams stop reading (HTTP/2 flow control holds the agents) until Kafka "
           "confirms; memory stays bounded."},
    KeyDef{"hub.max_seq_rate", Type::kInt, "1000000", false, 1000, 1000000000, {},
           "Highest record rate an agent can assign seqs at. A batch may not claim a seq above "
           "the hello's `next_seq` + this x (seconds since the hello + 1): a crafted seq cannot "
           "move the hub's watermark far beyond what the agent really has."},
    KeyDef{"hub.tls.enabled", Type::kBool, "false", false, 0, kMaxInt, {},
           "Serve TLS (cert_file and key_file required)."},
    KeyDef{"hub.tls.ca_file", Type::kString, "", false, 0, kMaxInt, {},
           "PEM CA that signs agent client certificates (enables mTLS)."},
    KeyDef{"hub.tls.cert_file", Type::kString, "", false, 0, kMaxInt, {}, "PEM server certificate."},
    KeyDef{"hub.tls.key_file", Type::kString, "", false, 0, kMaxInt, {},
           "PEM server private key.", true},
    KeyDef{"hub.tls.require_client_cert", Type::kBool, "false", false, 0, kMaxInt, {},
           "Reject agents without a client certificate signed by ca_file."},
    KeyDef{"hub.tokens_file", Type::kString, "", false, 0, kMaxInt, {},
           "File of `agent-id token` lines; when set, every agent must present its token.", true},
    KeyDef{"hub.rate_limit.records_per_s", Type::kInt, "0", false, 0, 100000000, {},
           "Per agent: records per second (token bucket); 0 = unlimited. A batch over the limit "
           "ends the stream with `RESOURCE_EXHAUSTED` and trailing metadata `retry-after-ms`; "
           "the agent waits that long and keeps buffering."},
    KeyDef{"hub.rate_limit.bytes_per_s", Type::kInt, "0", false, 0, 100000000000, {},
           "Per agent: batch bytes per second (token bucket); 0 = unlimited."},
    KeyDef{"hub.rate_limit.burst_s", Type::kInt, "2", false, 1, 3600, {},
           "Bucket size, in seconds of the rate (a batch larger than the bucket passes when "
           "the bucket is full)."},

    KeyDef{"kafka.bootstrap_servers", Type::kString, "", true, 0, kMaxInt, {},
           "Kafka bootstrap servers `host:port[,host:port]`."},
    KeyDef{"kafka.default_topic", Type::kString, "telemetry", false, 0, kMaxInt, {},
           "Topic for records whose MQTT topic matches no route."},
    KeyDef{"kafka.routes", Type::kObjectList, "", false, 0, kMaxInt, {},
           "Routing rules, first match wins: MQTT topic filter -> Kafka topic."},
    KeyDef{"kafka.routes[].filter", Type::kString, "", true, 0, kMaxInt, {},
           "MQTT topic filter (`+` and `#` wildcards)."},
    KeyDef{"kafka.routes[].topic", Type::kString, "", true, 0, kMaxInt, {}, "Kafka topic."},
    KeyDef{"kafka.routes[].compression", Type::kEnum, "", false, 0, kMaxInt,
           "none|gzip|snappy|lz4|zstd", "Per-topic compression (empty: producer default)."},
    KeyDef{"kafka.properties", Type::kStringMap, "", false, 0, kMaxInt, {},
           "Any librdkafka producer property, passed through (`linger.ms`, `sasl.*`, `ssl.*`). "
           "Values `file:/path` and `env:NAME` are read from a file or the environment. "
           "`enable.idempotence` and `acks` cannot be weakened."},
    KeyDef{"kafka.delivery_timeout_ms", Type::kInt, "120000", false, 1000, 86400000, {},
           "librdkafka `message.timeout.ms`: a record not confirmed by then fails, the stream "
           "is closed unacked and the agent resends."},

    KeyDef{"kafka.dead_letter_topic", Type::kString, "", false, 0, kMaxInt, {},
           "Topic for records Kafka refused for a permanent reason (too large, invalid, not "
           "authorized), with headers `edgesync-error` and `edgesync-original-topic` beside the "
           "usual ones. Empty: such records go back to the agent (`Ack.rejected`) into its "
           "dead-letter table; an agent before 1.1 then gets the stream ended as before."},
    KeyDef{"kafka.delivery", Type::kEnum, "at_least_once", false, 0, kMaxInt,
           "at_least_once|exactly_once",
           "`at_least_once`: idempotent producer, duplicates possible after a crash or reconnect "
           "(identifiable by `edgesync-agent` + `edgesync-seq`). `exactly_once`: records and the "
           "per-buffer watermark (`kafka.watermark_topic`) are committed in one Kafka transaction "
           "every `kafka.commit_interval_ms`; acks go out after the commit; `read_committed` "
           "consumers see each record once. Needs `kafka.delivery_timeout_ms` < "
           "`kafka.transaction_timeout_ms`."},
    KeyDef{"kafka.commit_interval_ms", Type::kInt, "100", false, 5, 60000, {},
           "exactly_once: how often the open transaction is committed (acks wait for it)."},
    KeyDef{"kafka.watermark_topic", Type::kString, "edgesync-watermarks", false, 0, kMaxInt, {},
           "exactly_once: compacted topic of the highest seq written per (agent, buffer), "
           "written in each transaction and read back before agents are welcomed. Created "
           "(compacted) when missing."},
    KeyDef{"kafka.watermark_partitions", Type::kInt, "12", false, 1, 10000, {},
           "exactly_once: partitions of the watermark topic when the hub creates it (an agent's "
           "watermarks live in the partition murmur2 of its id picks)."},
    KeyDef{"kafka.transactional_id", Type::kString, "", false, 0, kMaxInt, {},
           "exactly_once: librdkafka `transactional.id`, stable per replica (a restarted replica "
           "fences its previous incarnation). Empty: `edgesync-hub-` + `hub.id` (the host name, "
           "i.e. the StatefulSet pod name)."},
    KeyDef{"kafka.transaction_timeout_ms", Type::kInt, "60000", false, 1000, 900000, {},
           "exactly_once: librdkafka `transaction.timeout.ms` (the broker aborts a transaction "
           "open longer; at most the broker's `transaction.max.timeout.ms`)."},
    KeyDef{"kafka.health_check_ms", Type::kInt, "3000", false, 200, 600000, {},
           "Every this often the hub asks Kafka for metadata (same timeout); /readyz is 503 while "
           "that fails or the producer hit a fatal error."},

    KeyDef{"metrics.listen", Type::kString, "0.0.0.0:9103", false, 0, kMaxInt, {},
           "`host:port` serving /healthz (alive), /readyz (Kafka reachable, not draining) and "
           "Prometheus /metrics; empty disables."},

    KeyDef{"log.level", Type::kEnum, "info", false, 0, kMaxInt, "trace|debug|info|warn|error",
           "Log level."},
    KeyDef{"log.format", Type::kEnum, "text", false, 0, kMaxInt, "text|json",
           "Log line format (stderr)."},
};
// clang-format on

constexpr config::Schema kSchema{"cloud-hub", kKeys};

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "cloud-hub";
  return buf;
}

}  // namespace

const config::Schema& hub_schema() {
  return kSchema;
}

HubConfig hub_config_from(const config::Values& v) {
  HubConfig c;
  c.listen = v.str("hub.listen");
  c.hub_id = v.str("hub.id");
  if (c.hub_id.empty()) c.hub_id = hostname();
  c.shutdown_grace = std::chrono::milliseconds(v.integer("hub.shutdown_grace_ms"));
  c.max_batch_records = static_cast<std::size_t>(v.integer("hub.max_batch_records"));
  c.max_batch_bytes = static_cast<std::size_t>(v.integer("hub.max_batch_bytes"));
  c.max_inflight_records = static_cast<std::size_t>(v.integer("hub.max_inflight_records"));
  c.max_inflight_records_total =
      static_cast<std::size_t>(v.integer("hub.max_inflight_records_total"));
  c.slow_down = std::chrono::milliseconds(v.integer("hub.slow_down_ms"));
  c.max_streams = static_cast<std::size_t>(v.integer("hub.max_streams"));
  c.max_streams_per_connection =
      static_cast<std::size_t>(v.integer("hub.max_streams_per_connection"));
  c.hello_timeout = std::chrono::milliseconds(v.integer("hub.hello_timeout_ms"));
  c.max_inflight_bytes = static_cast<std::size_t>(v.integer("hub.max_inflight_bytes"));
  c.max_seq_rate = static_cast<std::uint64_t>(v.integer("hub.max_seq_rate"));
  c.tls.enabled = v.boolean("hub.tls.enabled");
  c.tls.ca_file = v.str("hub.tls.ca_file");
  c.tls.cert_file = v.str("hub.tls.cert_file");
  c.tls.key_file = v.str("hub.tls.key_file");
  c.tls.require_client_cert = v.boolean("hub.tls.require_client_cert");
  if (c.tls.enabled && (c.tls.cert_file.empty() || c.tls.key_file.empty())) {
    throw config::ConfigError(v.where("hub.tls.enabled") +
                              ": key 'hub.tls': enabled needs cert_file and key_file");
  }
  c.tokens_file = v.str("hub.tokens_file");
  c.rate_records_per_s = static_cast<double>(v.integer("hub.rate_limit.records_per_s"));
  c.rate_bytes_per_s = static_cast<double>(v.integer("hub.rate_limit.bytes_per_s"));
  c.rate_burst_s = static_cast<double>(v.integer("hub.rate_limit.burst_s"));

  c.kafka.bootstrap_servers = v.str("kafka.bootstrap_servers");
  c.kafka.default_topic = v.str("kafka.default_topic");
  for (const auto& r : v.objects("kafka.routes")) {
    Route route{r.str("filter"), r.str("topic"), r.has("compression") ? r.str("compression") : ""};
    if (!valid_topic_filter(route.filter)) {
      throw config::ConfigError(r.where("filter") + ": key 'kafka.routes[].filter': '" +
                                route.filter + "' is not a valid MQTT topic filter");
    }
    c.kafka.routes.push_back(std::move(route));
  }
  c.kafka.properties = v.map("kafka.properties");
  c.kafka.delivery_timeout = std::chrono::milliseconds(v.integer("kafka.delivery_timeout_ms"));
  c.kafka.health_check = std::chrono::milliseconds(v.integer("kafka.health_check_ms"));
  c.kafka.dead_letter_topic = v.str("kafka.dead_letter_topic");
  c.kafka.exactly_once = v.str("kafka.delivery") == "exactly_once";
  c.kafka.commit_interval = std::chrono::milliseconds(v.integer("kafka.commit_interval_ms"));
  c.kafka.watermark_topic = v.str("kafka.watermark_topic");
  c.kafka.watermark_partitions = static_cast<int>(v.integer("kafka.watermark_partitions"));
  c.kafka.transactional_id = v.str("kafka.transactional_id");
  if (c.kafka.transactional_id.empty()) c.kafka.transactional_id = "edgesync-hub-" + c.hub_id;
  c.kafka.transaction_timeout =
      std::chrono::milliseconds(v.integer("kafka.transaction_timeout_ms"));
  if (c.kafka.exactly_once && c.kafka.watermark_topic.empty()) {
    throw config::ConfigError(v.where("kafka.watermark_topic") +
                              ": key 'kafka.watermark_topic': exactly_once needs a topic");
  }
  c.metrics_listen = v.str("metrics.listen");
  c.log_level = v.str("log.level");
  c.log_format = v.str("log.format");
  return c;
}

HubConfig load_hub_config(const std::string& path) {
  return hub_config_from(config::load_file(kSchema, path));
}

}  // namespace edgesync::hub
