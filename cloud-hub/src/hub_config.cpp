#include "hub_config.hpp"

#include <unistd.h>

#include <array>

#include "edgesync/common/mqtt_topic.hpp"

namespace edgesync::hub {
namespace {

using config::KeyDef;
using config::Type;
constexpr std::int64_t kMaxInt = INT64_MAX;

template <class Access>
constexpr config::BoundKey<HubConfig> bind(Access member, KeyDef key) {
  return config::bind<HubConfig>(member, key);
}
constexpr config::BoundKey<HubConfig> unbound(KeyDef key) {
  return config::unbound<HubConfig>(key);
}

// The one table of cloud-hub config keys: validation and docs/cloud-hub-config.md come from it.
// A row is `bind(EDGESYNC_FIELD(member), KeyDef{...})`: the HubConfig member's initializer is the
// default (the row's default column stays `{}`). `unbound` rows are set by hand below.
// (not reflowed: one row per key reads as the table it is)
// clang-format off
constexpr std::array kKeys = {
    bind(EDGESYNC_FIELD(listen),
         KeyDef{"hub.listen", Type::kString, {}, false, 0, kMaxInt, {},
                "gRPC listen address `host:port`."}),
    bind(EDGESYNC_FIELD(hub_id),
         KeyDef{"hub.id", Type::kString, {}, false, 0, kMaxInt, {},
                "Name of this replica in logs and welcomes; empty = host name."}),
    bind(EDGESYNC_FIELD(advertise_address),
         KeyDef{"hub.advertise_address", Type::kString, {}, false, 0, kMaxInt, {},
                "exactly_once with several replicas: `host:port` at which agents reach this replica "
                "(an agent whose owner it is gets redirected here; Kubernetes: the pod's DNS name in "
                "the headless Service). `env:NAME` reads it from an environment variable when the hub "
                "starts. Empty: `hub.listen` (set it when that is `0.0.0.0:...`)."}),
    bind(EDGESYNC_FIELD(shutdown_grace),
         KeyDef{"hub.shutdown_grace_ms", Type::kInt, {}, false, 0, 3600000, {},
                "On SIGTERM: stop reading new batches, wait this long for Kafka to confirm what is in "
                "flight and ack it, then close streams and exit."}),
    bind(EDGESYNC_FIELD(max_batch_records),
         KeyDef{"hub.max_batch_records", Type::kInt, {}, false, 1, 1000000, {},
                "Largest batch accepted (records); announced to agents in the welcome."}),
    bind(EDGESYNC_FIELD(max_batch_bytes),
         KeyDef{"hub.max_batch_bytes", Type::kInt, {}, false, 1024, 268435456, {},
                "Largest batch accepted (bytes); also the gRPC max receive message size."}),
    bind(EDGESYNC_FIELD(max_inflight_records),
         KeyDef{"hub.max_inflight_records", Type::kInt, {}, false, 1, 10000000, {},
                "Per stream: records handed to Kafka but not yet confirmed. When reached, the hub "
                "stops reading from that agent (backpressure through HTTP/2 flow control)."}),
    bind(EDGESYNC_FIELD(max_inflight_records_total),
         KeyDef{"hub.max_inflight_records_total", Type::kInt, {}, false, 1, 100000000, {},
                "Hub-wide: records handed to Kafka but not yet confirmed, all streams together. When "
                "reached (Kafka slow or down), every stream stops reading; memory stays bounded."}),
    bind(EDGESYNC_FIELD(slow_down),
         KeyDef{"hub.slow_down_ms", Type::kInt, {}, false, 10, 600000, {},
                "A stream blocked this long by backpressure gets a `SlowDown` message with "
                "`retry_after_ms` = this value (repeated while it stays blocked); the agent pauses "
                "sending and keeps buffering."}),
    bind(EDGESYNC_FIELD(max_streams),
         KeyDef{"hub.max_streams", Type::kInt, {}, false, 1, 1000000, {},
                "Streams open at once on this replica, all agents together. One more is refused with "
                "`RESOURCE_EXHAUSTED` before anything is read (the agent retries with backoff; scale "
                "out or raise this)."}),
    bind(EDGESYNC_FIELD(max_streams_per_connection),
         KeyDef{"hub.max_streams_per_connection", Type::kInt, {}, false, 1, 100000, {},
                "Streams open at once on one TCP connection (an agent uses one). One more is refused "
                "with `RESOURCE_EXHAUSTED`."}),
    bind(EDGESYNC_FIELD(hello_timeout),
         KeyDef{"hub.hello_timeout_ms", Type::kInt, {}, false, 100, 600000, {},
                "A stream must send its hello within this time after it opens, or it is ended with "
                "`DEADLINE_EXCEEDED`."}),
    bind(EDGESYNC_FIELD(max_inflight_bytes),
         KeyDef{"hub.max_inflight_bytes", Type::kInt, {}, false, 1048576, 68719476736, {},
                "Hub-wide: bytes of batches read from agents and not yet confirmed by Kafka. When "
                "reached, streams stop reading (HTTP/2 flow control holds the agents) until Kafka "
                "confirms; memory stays bounded."}),
    bind(EDGESYNC_FIELD(max_seq_rate),
         KeyDef{"hub.max_seq_rate", Type::kInt, {}, false, 1000, 1000000000, {},
                "Highest record rate an agent can assign seqs at. A batch may not claim a seq above "
                "the hello's `next_seq` + this x (seconds since the hello + 1): a crafted seq cannot "
                "move the hub's watermark far beyond what the agent really has."}),
    bind(EDGESYNC_FIELD(tls.enabled),
         KeyDef{"hub.tls.enabled", Type::kBool, {}, false, 0, kMaxInt, {},
                "Serve TLS (cert_file and key_file required)."}),
    bind(EDGESYNC_FIELD(tls.ca_file),
         KeyDef{"hub.tls.ca_file", Type::kString, {}, false, 0, kMaxInt, {},
                "PEM CA that signs agent client certificates (enables mTLS)."}),
    bind(EDGESYNC_FIELD(tls.cert_file),
         KeyDef{"hub.tls.cert_file", Type::kString, {}, false, 0, kMaxInt, {}, "PEM server certificate."}),
    bind(EDGESYNC_FIELD(tls.key_file),
         KeyDef{"hub.tls.key_file", Type::kString, {}, false, 0, kMaxInt, {},
                "PEM server private key.", true}),
    bind(EDGESYNC_FIELD(tls.require_client_cert),
         KeyDef{"hub.tls.require_client_cert", Type::kBool, {}, false, 0, kMaxInt, {},
                "Reject agents without a client certificate signed by ca_file."}),
    bind(EDGESYNC_FIELD(tokens_file),
         KeyDef{"hub.tokens_file", Type::kString, {}, false, 0, kMaxInt, {},
                "File of `agent-id token` lines; when set, every agent must present its token.", true}),
    bind(EDGESYNC_FIELD(rate_records_per_s),
         KeyDef{"hub.rate_limit.records_per_s", Type::kInt, {}, false, 0, 100000000, {},
                "Per agent: records per second (token bucket); 0 = unlimited. A batch over the limit "
                "ends the stream with `RESOURCE_EXHAUSTED` and trailing metadata `retry-after-ms`; "
                "the agent waits that long and keeps buffering."}),
    bind(EDGESYNC_FIELD(rate_bytes_per_s),
         KeyDef{"hub.rate_limit.bytes_per_s", Type::kInt, {}, false, 0, 100000000000, {},
                "Per agent: batch bytes per second (token bucket); 0 = unlimited."}),
    bind(EDGESYNC_FIELD(rate_burst_s),
         KeyDef{"hub.rate_limit.burst_s", Type::kInt, {}, false, 1, 3600, {},
                "Bucket size, in seconds of the rate (a batch larger than the bucket passes when "
                "the bucket is full)."}),

    bind(EDGESYNC_FIELD(kafka.bootstrap_servers),
         KeyDef{"kafka.bootstrap_servers", Type::kString, {}, true, 0, kMaxInt, {},
                "Kafka bootstrap servers `host:port[,host:port]`."}),
    bind(EDGESYNC_FIELD(kafka.default_topic),
         KeyDef{"kafka.default_topic", Type::kString, {}, false, 0, kMaxInt, {},
                "Topic for records whose MQTT topic matches no route."}),
    unbound(KeyDef{"kafka.routes", Type::kObjectList, "", false, 0, kMaxInt, {},
                   "Routing rules, first match wins: MQTT topic filter -> Kafka topic."}),
    unbound(KeyDef{"kafka.routes[].filter", Type::kString, "", true, 0, kMaxInt, {},
                   "MQTT topic filter (`+` and `#` wildcards)."}),
    unbound(KeyDef{"kafka.routes[].topic", Type::kString, "", true, 0, kMaxInt, {}, "Kafka topic."}),
    unbound(KeyDef{"kafka.routes[].compression", Type::kEnum, "", false, 0, kMaxInt,
                   "none|gzip|snappy|lz4|zstd", "Per-topic compression (empty: producer default)."}),
    bind(EDGESYNC_FIELD(kafka.properties),
         KeyDef{"kafka.properties", Type::kStringMap, {}, false, 0, kMaxInt, {},
                "Any librdkafka producer property, passed through (`linger.ms`, `sasl.*`, `ssl.*`). "
                "Values `file:/path` and `env:NAME` are read from a file or the environment. "
                "`enable.idempotence` and `acks` cannot be weakened."}),
    bind(EDGESYNC_FIELD(kafka.delivery_timeout),
         KeyDef{"kafka.delivery_timeout_ms", Type::kInt, {}, false, 1000, 86400000, {},
                "librdkafka `message.timeout.ms`: a record not confirmed by then fails, the stream "
                "is closed unacked and the agent resends."}),

    bind(EDGESYNC_FIELD(kafka.dead_letter_topic),
         KeyDef{"kafka.dead_letter_topic", Type::kString, {}, false, 0, kMaxInt, {},
                "Topic for records Kafka refused for a permanent reason (too large, invalid, not "
                "authorized), with headers `edgesync-error` and `edgesync-original-topic` beside the "
                "usual ones. Empty: such records go back to the agent (`Ack.rejected`) into its "
                "dead-letter table; an agent before 1.1 then gets the stream ended as before."}),
    bind(EDGESYNC_FIELD(kafka.exactly_once),
         KeyDef{"kafka.delivery", Type::kEnum, {}, false, 0, kMaxInt, "at_least_once|exactly_once",
                "`at_least_once`: idempotent producer, duplicates possible after a crash or reconnect "
                "(identifiable by `edgesync-agent` + `edgesync-seq`). `exactly_once`: records and the "
                "per-buffer watermark (`kafka.watermark_topic`) are committed in one Kafka transaction "
                "every `kafka.commit_interval_ms`; acks go out after the commit; `read_committed` "
                "consumers see each record once. Needs `kafka.delivery_timeout_ms` < "
                "`kafka.transaction_timeout_ms`."}),
    bind(EDGESYNC_FIELD(kafka.commit_interval),
         KeyDef{"kafka.commit_interval_ms", Type::kInt, {}, false, 5, 60000, {},
                "exactly_once: how often the open transaction is committed (acks wait for it)."}),
    bind(EDGESYNC_FIELD(kafka.watermark_topic),
         KeyDef{"kafka.watermark_topic", Type::kString, {}, false, 0, kMaxInt, {},
                "exactly_once: compacted topic of the highest seq written per (agent, buffer), "
                "written in each transaction and read back before agents are welcomed. Created "
                "(compacted) when missing."}),
    bind(EDGESYNC_FIELD(kafka.watermark_partitions),
         KeyDef{"kafka.watermark_partitions", Type::kInt, {}, false, 1, 10000, {},
                "exactly_once: partitions of the watermark topic when the hub creates it (an agent's "
                "watermarks live in the partition murmur2 of its id picks)."}),
    bind(EDGESYNC_FIELD(kafka.transactional_id),
         KeyDef{"kafka.transactional_id", Type::kString, {}, false, 0, kMaxInt, {},
                "exactly_once: librdkafka `transactional.id`, stable per replica (a restarted replica "
                "fences its previous incarnation). Empty: `edgesync-hub-` + `hub.id` (the host name, "
                "i.e. the StatefulSet pod name)."}),
    bind(EDGESYNC_FIELD(kafka.transaction_timeout),
         KeyDef{"kafka.transaction_timeout_ms", Type::kInt, {}, false, 1000, 900000, {},
                "exactly_once: librdkafka `transaction.timeout.ms` (the broker aborts a transaction "
                "open longer; at most the broker's `transaction.max.timeout.ms`)."}),
    bind(EDGESYNC_FIELD(kafka.group_id),
         KeyDef{"kafka.group_id", Type::kString, {}, false, 0, kMaxInt, {},
                "exactly_once: consumer group the replicas join over the watermark topic; a replica "
                "owns the agents whose watermark partition it is assigned (transactions commit with "
                "this group's metadata, KIP-447). Empty: `edgesync-hub-` + `kafka.watermark_topic` "
                "(replicas sharing a watermark topic share the group)."}),
    bind(EDGESYNC_FIELD(kafka.group_session_timeout),
         KeyDef{"kafka.group_session_timeout_ms", Type::kInt, {}, false, 1000, 3600000, {},
                "exactly_once: the group's `session.timeout.ms`: after a replica dies (kill -9) its "
                "agents move to the others this long later (the broker's "
                "`group.min.session.timeout.ms`, 6000 by default, is the floor)."}),
    bind(EDGESYNC_FIELD(kafka.health_check),
         KeyDef{"kafka.health_check_ms", Type::kInt, {}, false, 200, 600000, {},
                "Every this often the hub asks Kafka for metadata (same timeout); /readyz is 503 while "
                "that fails or the producer hit a fatal error."}),

    bind(EDGESYNC_FIELD(metrics_listen),
         KeyDef{"metrics.listen", Type::kString, {}, false, 0, kMaxInt, {},
                "`host:port` serving /healthz (alive), /readyz (Kafka reachable, not draining) and "
                "Prometheus /metrics; empty disables."}),

    bind(EDGESYNC_FIELD(log_level),
         KeyDef{"log.level", Type::kEnum, {}, false, 0, kMaxInt, "trace|debug|info|warn|error",
                "Log level."}),
    bind(EDGESYNC_FIELD(log_format),
         KeyDef{"log.format", Type::kEnum, {}, false, 0, kMaxInt, "text|json",
                "Log line format (stderr)."}),
};
// clang-format on

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "cloud-hub";
  return buf;
}

}  // namespace

const config::BoundSchema<HubConfig>& hub_bound_schema() {
  static const config::BoundSchema<HubConfig> schema("cloud-hub", kKeys);
  return schema;
}

const config::Schema& hub_schema() {
  return hub_bound_schema().schema();
}

HubConfig hub_config_from(const config::Values& v) {
  HubConfig c;
  hub_bound_schema().load(v, c);
  if (c.hub_id.empty()) c.hub_id = hostname();
  if (c.tls.enabled && (c.tls.cert_file.empty() || c.tls.key_file.empty())) {
    throw config::ConfigError(v.where("hub.tls.enabled") +
                              ": key 'hub.tls': enabled needs cert_file and key_file");
  }
  for (const auto& r : v.objects("kafka.routes")) {
    Route route{r.str("filter"), r.str("topic"), r.has("compression") ? r.str("compression") : ""};
    if (!valid_topic_filter(route.filter)) {
      throw config::ConfigError(r.where("filter") + ": key 'kafka.routes[].filter': '" +
                                route.filter + "' is not a valid MQTT topic filter");
    }
    c.kafka.routes.push_back(std::move(route));
  }
  if (c.kafka.transactional_id.empty()) c.kafka.transactional_id = "edgesync-hub-" + c.hub_id;
  if (c.kafka.group_id.empty()) c.kafka.group_id = "edgesync-hub-" + c.kafka.watermark_topic;
  if (c.advertise_address.empty()) c.advertise_address = c.listen;
  if (c.kafka.exactly_once && c.kafka.watermark_topic.empty()) {
    throw config::ConfigError(v.where("kafka.watermark_topic") +
                              ": key 'kafka.watermark_topic': exactly_once needs a topic");
  }
  return c;
}

HubConfig load_hub_config(const std::string& path, std::string_view hint) {
  return hub_config_from(config::load_file(hub_schema(), path, hint));
}

}  // namespace edgesync::hub
