// KafkaSink against the real Apache Kafka broker of the ctest fixture: what a record looks like in
// Kafka (key, value, the edgesync headers), routing by MQTT topic, and the dead-letter topic with
// the error headers. Fault injection is in tests/cloud-hub/test_kafka_sink.cpp (mock cluster).
#include <doctest/doctest.h>

#include <deque>
#include <mutex>

#include "kafka_sink.hpp"
#include "process.hpp"
#include "services.hpp"

using namespace edgesync;
using namespace std::chrono_literals;

namespace {

class Collector : public hub::DeliveryListener {
 public:
  void on_delivery(hub::DeliverySlot& slot, const hub::DeliveryResult& r) override {
    std::lock_guard lk(mu_);
    if (r.ok) ok_.push_back(slot.seq);
  }
  std::vector<std::uint64_t> ok() const {
    std::lock_guard lk(mu_);
    return ok_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::uint64_t> ok_;
};

}  // namespace

TEST_CASE("the sink writes key, value and edgesync headers and routes by MQTT topic") {
  const auto telemetry = test::unique_topic("sink-telemetry");
  const auto alerts = test::unique_topic("sink-alerts");
  const auto dead = test::unique_topic("sink-dead");
  hub::HubConfig::Kafka k;
  k.bootstrap_servers = test::kafka_bootstrap();
  k.default_topic = telemetry;
  k.routes.push_back({"alerts/#", alerts, ""});
  k.dead_letter_topic = dead;
  Collector c;  // before the sink: it reports into these until it is destroyed
  std::deque<hub::DeliverySlot> slots;
  const std::string binary("\x00\xff\x01 bytes", 9);
  {
    hub::KafkaSink sink(k);
    const hub::SinkRecord recs[] = {
        {"agent-s", "buf-s", 7, "dev-1", "sensors/dev-1/t", "21.5", 1'795'600'800'000'000'001},
        {"agent-s", "buf-s", 8, "dev-2", "alerts/dev-2/fire", binary, 1'795'600'800'000'000'002},
    };
    for (const auto& r : recs) {
      slots.push_back(hub::DeliverySlot{&c, r.seq, 0, false});
      hub::DeliveryResult res;
      REQUIRE(sink.produce(r, &slots.back(), &res) == hub::ProduceStatus::kQueued);
    }
    slots.push_back(hub::DeliverySlot{&c, 9, 0, true});
    hub::DeliveryResult res;
    REQUIRE(sink.produce_dead_letter(
                {"agent-s", "buf-s", 9, "dev-3", "sensors/dev-3/big", "too big", 3},
                "MSG_SIZE_TOO_LARGE: over the limit", &slots.back(),
                &res) == hub::ProduceStatus::kQueued);
    REQUIRE(sink.flush(60s));
  }
  CHECK(c.ok().size() == 3);

  const auto t = test::read_topic(telemetry, 1, 60s);
  REQUIRE(t.size() == 1);
  CHECK(t[0].key == "dev-1");
  CHECK(t[0].value == "21.5");
  CHECK(t[0].headers.at(hub::kHeaderAgent) == "agent-s");
  CHECK(t[0].headers.at(hub::kHeaderBuffer) == "buf-s");
  CHECK(t[0].headers.at(hub::kHeaderSeq) == "7");
  CHECK(t[0].headers.at(hub::kHeaderTopic) == "sensors/dev-1/t");
  CHECK(t[0].headers.at(hub::kHeaderReceived) == "1795600800000000001");

  const auto a = test::read_topic(alerts, 1, 60s);
  REQUIRE(a.size() == 1);
  CHECK(a[0].key == "dev-2");
  CHECK(a[0].value == binary);
  CHECK(a[0].headers.at(hub::kHeaderSeq) == "8");

  const auto d = test::read_topic(dead, 1, 60s);
  REQUIRE(d.size() == 1);
  CHECK(d[0].value == "too big");
  CHECK(d[0].headers.at(hub::kHeaderError).find("MSG_SIZE_TOO_LARGE") != std::string::npos);
  CHECK(d[0].headers.at(hub::kHeaderOriginalTopic) == telemetry);
}
