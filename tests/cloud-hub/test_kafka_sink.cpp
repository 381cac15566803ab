// KafkaSink against librdkafka's mock cluster (a Kafka protocol broker inside the test process):
// fault injection the real broker cannot give on demand. Retriable produce errors are retried
// (idempotent producer) and every record is reported exactly once; a permanent error reaches the
// listener as permanent with its name; a broker that is down makes the sink unhealthy with a
// reason, and a record produced meanwhile is delivered once the broker is back. The real-broker
// side (headers, routes) is tests/integration/test_kafka_sink.cpp.
#include <doctest/doctest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <deque>
#include <mutex>
#include <set>

#include "kafka_sink.hpp"
#include "process.hpp"

using namespace edgesync;
using namespace std::chrono_literals;

namespace {

constexpr std::int16_t kApiProduce = 0;  // Kafka protocol ApiKey of ProduceRequest

class MockCluster {
 public:
  MockCluster() {
    char err[512];
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof(err));
    REQUIRE_MESSAGE(rk_ != nullptr, err);
    mc_ = rd_kafka_mock_cluster_new(rk_, 1);
    REQUIRE(mc_ != nullptr);
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(mc_);
    rd_kafka_destroy(rk_);
  }
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;
  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(mc_); }
  void topic(const std::string& name) {
    REQUIRE(rd_kafka_mock_topic_create(mc_, name.c_str(), 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  void fail_produce(const std::vector<rd_kafka_resp_err_t>& errors) {
    rd_kafka_mock_push_request_errors_array(mc_, kApiProduce, errors.size(), errors.data());
  }
  void broker_down() { rd_kafka_mock_broker_set_down(mc_, 1); }
  void broker_up() { rd_kafka_mock_broker_set_up(mc_, 1); }

 private:
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* mc_ = nullptr;
};

struct Report {
  std::uint64_t seq;
  bool ok;
  hub::ErrorClass error_class;
  std::string error_name;
};

class Collector : public hub::DeliveryListener {
 public:
  void on_delivery(hub::DeliverySlot& slot, const hub::DeliveryResult& r) override {
    std::lock_guard lk(mu_);
    reports_.push_back({slot.seq, r.ok, r.error_class, std::string(r.error_name)});
  }
  std::vector<Report> reports() const {
    std::lock_guard lk(mu_);
    return reports_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Report> reports_;
};

// Records and their slots, alive until the reports are in (the sink does not copy payloads).
struct Batch {
  Batch(Collector& c, int n) {
    for (int i = 1; i <= n; ++i) {
      payloads.push_back("payload-" + std::to_string(i));
      slots.push_back(hub::DeliverySlot{&c, static_cast<std::uint64_t>(i),
                                        static_cast<std::uint32_t>(i - 1), false});
    }
  }
  hub::SinkRecord record(int i) const {
    return hub::SinkRecord{"agent-mock",
                           "buffer-mock",
                           static_cast<std::uint64_t>(i + 1),
                           "dev-1",
                           "sensors/dev-1/x",
                           payloads[static_cast<std::size_t>(i)],
                           1'795'600'800'000'000'000};
  }
  std::deque<std::string> payloads;
  std::deque<hub::DeliverySlot> slots;
};

hub::HubConfig::Kafka kafka_cfg(const std::string& bootstrap, const std::string& topic) {
  hub::HubConfig::Kafka k;
  k.bootstrap_servers = bootstrap;
  k.default_topic = topic;
  k.delivery_timeout = 5000ms;
  k.health_check = 200ms;
  return k;
}

void produce_all(hub::KafkaSink& sink, Batch& b) {
  for (std::size_t i = 0; i < b.payloads.size(); ++i) {
    hub::DeliveryResult r;
    REQUIRE(sink.produce(b.record(static_cast<int>(i)), &b.slots[i], &r) ==
            hub::ProduceStatus::kQueued);
  }
}

}  // namespace

TEST_CASE("retriable produce errors are retried and every record is reported once and ok") {
  MockCluster mock;
  mock.topic("mock-retry");
  mock.fail_produce({RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                     RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT});
  Collector c;  // before the sink: it reports into them until it is destroyed
  Batch b(c, 20);
  hub::KafkaSink sink(kafka_cfg(mock.bootstraps(), "mock-retry"));
  produce_all(sink, b);
  REQUIRE(sink.flush(30s));
  const auto reports = c.reports();
  REQUIRE(reports.size() == 20);
  std::set<std::uint64_t> seqs;
  for (const auto& r : reports) {
    CHECK_MESSAGE(r.ok, r.error_name);
    seqs.insert(r.seq);
  }
  CHECK(seqs.size() == 20);
  CHECK(sink.in_flight() == 0);
}

TEST_CASE("a permanent produce error reaches the listener as permanent with its name") {
  MockCluster mock;
  mock.topic("mock-permanent");
  mock.fail_produce({RD_KAFKA_RESP_ERR_INVALID_RECORD});
  Collector c;
  Batch b(c, 1);
  hub::KafkaSink sink(kafka_cfg(mock.bootstraps(), "mock-permanent"));
  produce_all(sink, b);
  REQUIRE(sink.flush(30s));
  const auto reports = c.reports();
  REQUIRE(reports.size() == 1);
  CHECK_FALSE(reports[0].ok);
  CHECK(reports[0].error_class == hub::ErrorClass::kPermanent);
  CHECK(reports[0].error_name == "INVALID_RECORD");
}

TEST_CASE("a broker that is down makes the sink unhealthy and a record produced meanwhile lands") {
  MockCluster mock;
  mock.topic("mock-down");
  Collector c;  // before the sink: it reports into them until it is destroyed
  Batch b(c, 1);
  auto cfg = kafka_cfg(mock.bootstraps(), "mock-down");
  cfg.delivery_timeout = 60000ms;  // longer than the outage: the record waits, it does not fail
  hub::KafkaSink sink(cfg);
  std::string why;
  REQUIRE(test::wait_until([&] { return sink.healthy(&why); }, 30s));
  mock.broker_down();
  CHECK(test::wait_until([&] { return !sink.healthy(&why); }, 30s));
  CHECK_FALSE(why.empty());
  produce_all(sink, b);
  CHECK(c.reports().empty());
  mock.broker_up();
  REQUIRE(sink.flush(30s));
  const auto reports = c.reports();
  REQUIRE(reports.size() == 1);
  CHECK_MESSAGE(reports[0].ok, reports[0].error_name);
  CHECK(test::wait_until([&] { return sink.healthy(&why); }, 30s));
}
