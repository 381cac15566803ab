// Hub operations in-process: JSON log escaping, backpressure (hub-wide in-flight bound, SlowDown,
// no ack before delivery) with a sink that holds deliveries back, metrics counters.
#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "edgesync/common/logging.hpp"
#include "hub_metrics.hpp"
#include "sync_service.hpp"

using namespace edgesync;
using namespace std::chrono_literals;

namespace {

// Accepts records and reports nothing until release(): Kafka down.
class StalledSink : public hub::Sink {
 public:
  hub::ProduceStatus produce(const hub::SinkRecord&, hub::DeliverySlot* slot,
                             hub::DeliveryResult*) override {
    std::lock_guard lk(mu_);
    held_.push_back(slot);
    return hub::ProduceStatus::kQueued;
  }
  hub::ProduceStatus produce_dead_letter(const hub::SinkRecord&, std::string_view,
                                         hub::DeliverySlot*, hub::DeliveryResult* r) override {
    *r = {false, hub::ErrorClass::kPermanent, "NO_DEAD_LETTER_TOPIC", ""};
    return hub::ProduceStatus::kFailed;
  }
  bool flush(std::chrono::milliseconds) override { return true; }
  std::size_t in_flight() const override {
    std::lock_guard lk(mu_);
    return held_.size();
  }
  void release() {
    std::vector<hub::DeliverySlot*> batch;
    {
      std::lock_guard lk(mu_);
      batch.swap(held_);
    }
    for (auto* slot : batch) slot->listener->on_delivery(*slot, hub::DeliveryResult{});
  }

 private:
  mutable std::mutex mu_;
  std::vector<hub::DeliverySlot*> held_;
};

// The value of an unlabelled sample `name` in Prometheus text, or -1 when there is none.
double value(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(name + " ")) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

std::string scrape(hub::HubMetrics& m) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, m.registry()->Collect());
  return out.str();
}

}  // namespace

TEST_CASE("json_escape keeps any message a valid JSON string") {
  const std::string nasty = "say \"hi\" C:\\path\n\ttab \x01 end";
  const std::string line = "{\"msg\":\"" + json_escape(nasty) + "\"}";
  auto j = nlohmann::json::parse(line);
  CHECK(j.at("msg").get<std::string>() == nasty);
  CHECK(json_escape("plain") == "plain");
  CHECK(json_escape("a\"b") == "a\\\"b");
  CHECK(json_escape("\x1f") == "\\u001f");
}

TEST_CASE(
    "with Kafka stalled the hub bounds in-flight records hub-wide and sends SlowDown and acks "
    "nothing") {
  StalledSink sink;
  hub::HubMetrics metrics;
  hub::HubConfig cfg;
  cfg.hub_id = "unit-hub";
  cfg.max_inflight_records = 1000;
  cfg.max_inflight_records_total = 100;
  cfg.slow_down = 200ms;
  cfg.shutdown_grace = 1000ms;
  hub::SyncService service(cfg, sink, &metrics);
  int port = 0;
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&service);
  auto server = b.BuildAndStart();
  REQUIRE(server);

  auto stub = v1::Sync::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  auto s = stub->Stream(&ctx);
  v1::AgentMessage m;
  m.mutable_hello()->set_agent_id("agent-bp");
  m.mutable_hello()->set_epoch(1);
  m.mutable_hello()->set_next_seq(1);
  REQUIRE(s->Write(m));
  v1::HubMessage r;
  REQUIRE(s->Read(&r));
  REQUIRE(r.has_welcome());
  // The bound is checked before each read: the first batch (300 records) passes, the second is
  // not read while Kafka holds more than hub.max_inflight_records_total.
  for (std::uint64_t id = 1; id <= 2; ++id) {
    v1::AgentMessage batch;
    batch.mutable_batch()->set_batch_id(id);
    for (std::uint64_t i = 1; i <= 150; ++i) {
      auto* rec = batch.mutable_batch()->add_records();
      rec->set_seq((id - 1) * 150 + i);
      rec->set_device_id("d");
      rec->set_mqtt_topic("sensors/d/x");
      rec->set_payload("p");
    }
    REQUIRE(s->Write(batch));
  }

  // Blocked at the hub-wide bound: a SlowDown arrives, never an ack.
  REQUIRE(s->Read(&r));
  CHECK(r.has_slow_down());
  CHECK(r.slow_down().retry_after_ms() == 200);
  CHECK(r.slow_down().reason().find("max_inflight_records_total") != std::string::npos);
  CHECK(sink.in_flight() == 150);
  CHECK(metrics.acks_total() == 0);

  // Kafka comes back: everything flows without a reconnect. The releaser delivers what is held
  // until the last ack arrived (no iteration budget: a hub that never acks fails by the test's
  // timeout, not by a guess of how long it takes); acks only grow and end at 300.
  std::atomic<bool> all_acked{false};
  std::thread releaser([&] {
    while (!all_acked) {
      sink.release();
      std::this_thread::sleep_for(20ms);
    }
  });
  std::uint64_t acked = 0;
  bool increasing = true;
  while (acked < 300 && s->Read(&r)) {
    if (!r.has_ack()) continue;
    increasing = increasing && r.ack().acked_through() > acked;
    acked = r.ack().acked_through();
  }
  all_acked = true;
  releaser.join();
  CHECK(acked == 300);
  CHECK(increasing);
  CHECK(sink.in_flight() == 0);
  s->WritesDone();
  ctx.TryCancel();
  s->Finish();
  service.begin_drain();
  server->Shutdown(std::chrono::system_clock::now() + 2s);

  // The values, not the names: a name alone is always there (the HELP and TYPE lines).
  const auto text = scrape(metrics);
  CHECK(value(text, "edgesync_hub_records_in_total") == 300);
  CHECK(value(text, "edgesync_hub_slow_downs_sent_total") >= 1);
  CHECK(value(text, "edgesync_hub_streams_open") == 0);
}
