#include "watermark_store.hpp"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "edgesync/common/secrets.hpp"
#include "edgesync/common/text.hpp"
#include "hub_metrics.hpp"

namespace edgesync::hub {

std::string watermark_key(std::string_view agent, std::string_view buffer) {
  std::string k;
  k.reserve(agent.size() + 1 + buffer.size());
  k.append(agent).push_back('\n');
  k.append(buffer);
  return k;
}

std::optional<std::uint64_t> parse_watermark_value(std::string_view v) {
  if (v.empty() || v.size() > 20) return std::nullopt;
  std::uint64_t out = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
  return out;
}

std::int32_t watermark_partition(std::string_view agent, std::int32_t partitions) {
  if (partitions <= 0) return 0;
  // The partitioner reads only key and partition count (the topic handle is unused).
  return rd_kafka_msg_partitioner_murmur2(nullptr, agent.data(), agent.size(), partitions, nullptr,
                                          nullptr);
}

namespace {

std::int32_t partition_count(RdKafka::Handle& h, const std::string& topic,
                             std::chrono::milliseconds timeout, bool* missing) {
  std::string err;
  std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(&h, topic, nullptr, err));
  if (!t) throw std::runtime_error("kafka.watermark_topic '" + topic + "': " + err);
  RdKafka::Metadata* md = nullptr;
  const auto rc = h.metadata(false, t.get(), &md, static_cast<int>(timeout.count()));
  std::unique_ptr<RdKafka::Metadata> owned(md);
  if (rc != RdKafka::ERR_NO_ERROR || !owned) {
    throw std::runtime_error("kafka.watermark_topic '" + topic +
                             "': no metadata from Kafka: " + RdKafka::err2str(rc));
  }
  for (const auto* tm : *owned->topics()) {
    if (tm->topic() != topic) continue;
    if (tm->err() == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART || tm->partitions()->empty()) {
      *missing = true;
      return 0;
    }
    if (tm->err() != RdKafka::ERR_NO_ERROR) {
      throw std::runtime_error("kafka.watermark_topic '" + topic +
                               "': " + RdKafka::err2str(tm->err()));
    }
    return static_cast<std::int32_t>(tm->partitions()->size());
  }
  *missing = true;
  return 0;
}

void create_compacted(rd_kafka_t* rk, const std::string& topic, int partitions,
                      std::chrono::milliseconds timeout) {
  char errstr[256] = {};
  rd_kafka_NewTopic_t* nt =
      rd_kafka_NewTopic_new(topic.c_str(), partitions, -1, errstr, sizeof(errstr));
  if (!nt) throw std::runtime_error("kafka.watermark_topic '" + topic + "': " + errstr);
  rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opts, static_cast<int>(timeout.count()), nullptr, 0);
  rd_kafka_CreateTopics(rk, &nt, 1, opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, static_cast<int>(timeout.count()) + 1000);
  std::string failure;
  bool existed = false;
  if (!ev) {
    failure = "no answer to CreateTopics";
  } else if (rd_kafka_event_error(ev)) {
    failure = rd_kafka_event_error_string(ev);
  } else {
    size_t n = 0;
    const rd_kafka_topic_result_t** res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; ++i) {
      const auto e = rd_kafka_topic_result_error(res[i]);
      if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) existed = true;
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        failure =
            std::string(rd_kafka_err2name(e)) + ": " +
            (rd_kafka_topic_result_error_string(res[i]) ? rd_kafka_topic_result_error_string(res[i])
                                                        : "");
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  if (!failure.empty()) {
    throw std::runtime_error("kafka.watermark_topic '" + topic +
                             "': cannot create it (compacted): " + failure);
  }
  if (existed) return;
  spdlog::info("kafka: created the watermark topic '{}' ({} partitions, cleanup.policy=compact)",
               topic, partitions);
}

}  // namespace

std::int32_t ensure_watermark_topic(RdKafka::Producer& producer, const HubConfig::Kafka& cfg,
                                    std::chrono::milliseconds timeout) {
  // CreateTopics first (an existing topic is left as it is): a metadata request for a missing
  // topic would let a broker with auto.create.topics.enable create it, uncompacted and with the
  // broker's default partition count.
  std::string create_failure;
  try {
    create_compacted(producer.c_ptr(), cfg.watermark_topic, cfg.watermark_partitions, timeout);
  } catch (const std::runtime_error& e) {
    create_failure = e.what();  // e.g. not authorized: fine when the topic exists
  }
  bool missing = false;
  std::int32_t n = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {  // metadata lags the creation by a moment
    missing = false;
    n = partition_count(producer, cfg.watermark_topic, timeout, &missing);
    if (!missing) return n;
    if (!create_failure.empty()) throw std::runtime_error(create_failure);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  throw std::runtime_error("kafka.watermark_topic '" + cfg.watermark_topic +
                           "': created but not in the metadata after " +
                           std::to_string(timeout.count()) + " ms");
}

std::unordered_map<std::string, std::uint64_t> read_watermarks(
    const HubConfig::Kafka& cfg, const std::vector<std::int32_t>& partitions,
    std::chrono::milliseconds timeout, HubMetrics* metrics) {
  std::string err;
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  // The producer's connection settings (security, SASL, ...); producer-only ones are ignored.
  for (const auto& [k, v] : cfg.properties) (void)conf->set(k, resolve_secret(v), err);
  const std::pair<const char*, std::string> fixed[] = {
      {"bootstrap.servers", cfg.bootstrap_servers},
      {"group.id", "edgesync-watermark-reader"},  // required by the API; nothing is committed
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"isolation.level", "read_committed"},
      {"enable.partition.eof", "true"},
      {"auto.offset.reset", "earliest"}};
  for (const auto& [k, v] : fixed) {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      throw std::runtime_error(std::string("watermark reader: '") + k + "': " + err);
    }
  }
  std::unique_ptr<RdKafka::KafkaConsumer> c(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!c) throw std::runtime_error("watermark reader: " + err);
  std::vector<RdKafka::TopicPartition*> parts;
  parts.reserve(partitions.size());
  for (const std::int32_t p : partitions) {
    parts.push_back(
        RdKafka::TopicPartition::create(cfg.watermark_topic, p, RdKafka::Topic::OFFSET_BEGINNING));
  }
  const auto assign_err = c->assign(parts);
  RdKafka::TopicPartition::destroy(parts);
  if (assign_err != RdKafka::ERR_NO_ERROR) {
    throw std::runtime_error("watermark reader: assign: " + RdKafka::err2str(assign_err));
  }
  std::unordered_map<std::string, std::uint64_t> out;
  std::unordered_map<std::int32_t, bool> at_end;
  for (const std::int32_t p : partitions) at_end[p] = false;
  std::size_t ended = 0;
  std::size_t records = 0, malformed = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (ended < partitions.size()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      c->close();
      throw std::runtime_error("kafka.watermark_topic '" + cfg.watermark_topic + "': read " +
                               std::to_string(ended) + " of " + std::to_string(partitions.size()) +
                               " partition(s) to their end within " +
                               std::to_string(timeout.count()) + " ms; not welcoming agents");
    }
    std::unique_ptr<RdKafka::Message> m(c->consume(200));
    const auto p = m->partition();
    if (m->err() == RdKafka::ERR__PARTITION_EOF) {
      if (const auto it = at_end.find(p); it != at_end.end() && !it->second) {
        it->second = true;
        ++ended;
      }
      continue;
    }
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      if (m->err() != RdKafka::ERR__TIMED_OUT) {
        spdlog::warn("kafka: reading the watermark topic '{}': {}", cfg.watermark_topic,
                     m->errstr());
      }
      continue;
    }
    ++records;
    const std::string* key = m->key();
    const std::string_view value(static_cast<const char*>(m->payload()), m->len());
    const auto seq = parse_watermark_value(value);
    if (!key || key->find('\n') == std::string::npos || !seq) {
      ++malformed;
      if (metrics) metrics->kafka_error("watermark:malformed");
      spdlog::warn(
          "kafka: watermark topic '{}' partition {} offset {}: malformed record (key '{}', {} "
          "value bytes), skipped",
          cfg.watermark_topic, p, m->offset(), key ? printable(*key) : std::string("(none)"),
          m->len());
      continue;
    }
    out[*key] = *seq;  // the last record of a key is its watermark (a reset may lower it)
  }
  c->close();
  spdlog::info(
      "kafka: watermark topic '{}' read to its end ({} partition(s)): {} record(s), {} (agent, "
      "buffer) watermark(s), {} malformed",
      cfg.watermark_topic, partitions.size(), records, out.size(), malformed);
  return out;
}

}  // namespace edgesync::hub
