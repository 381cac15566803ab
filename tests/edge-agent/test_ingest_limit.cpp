// MqttIngest's record limits (mqtt.max_payload_bytes and the hub's announced limit), through the
// message path Paho's callback uses; no broker needed.
#include <doctest/doctest.h>

#include <thread>

#include "buffer/sqlite_buffer.hpp"
#include "ingest/mqtt_ingest.hpp"
#include "process.hpp"

using namespace edgesync::agent;

namespace {

struct Fixture {
  explicit Fixture(const char* name) : dir(edgesync::test::make_temp_dir(name)) {
    SqliteBufferOptions o;
    o.path = (dir / "buffer.db").string();
    o.synchronous_full = false;
    o.commit_window = 0;
    buffer = std::make_unique<SqliteBuffer>(o);
    AgentConfig::Mqtt m;
    m.uri = "tcp://127.0.0.1:1";  // never connected: start() is not called
    m.client_id = "ingest-limit-test";
    m.device_segment = 1;
    m.max_payload_bytes = 1000;
    ingest = std::make_unique<MqttIngest>(m, *buffer);
  }
  std::uint64_t oversize() { return buffer->stats().dropped[drop_index(DropReason::kOversize)]; }
  std::filesystem::path dir;
  std::unique_ptr<SqliteBuffer> buffer;
  std::unique_ptr<MqttIngest> ingest;
};

}  // namespace

TEST_CASE("the hub's record limit applies as min with max_payload_bytes on payload+topic+device") {
  Fixture f("ingest-limit");
  const std::string topic = "s/dev-1/x";  // 9 bytes, device "dev-1" 5 bytes: 14 bytes overhead
  f.ingest->on_message(topic, std::string(1000, 'a'), 1);  // at max_payload_bytes: kept
  f.ingest->on_message(topic, std::string(1001, 'a'), 1);  // over it: dropped
  CHECK(f.buffer->next_seq() == 2);
  CHECK(f.ingest->counters().dropped_oversize == 1);

  f.ingest->set_max_record_bytes(514);  // the hub: at most 514 record bytes
  CHECK(f.ingest->max_record_bytes() == 514);
  f.ingest->on_message(topic, std::string(500, 'b'), 1);  // 500 + 14 = 514: kept
  f.ingest->on_message(topic, std::string(501, 'b'), 1);  // 515: dropped
  f.ingest->on_message(topic, std::string(900, 'b'), 1);  // under max_payload, over the hub's
  CHECK(f.buffer->next_seq() == 3);
  CHECK(f.ingest->counters().dropped_oversize == 3);
  CHECK(f.ingest->counters().received == 5);

  // A hub limit above max_payload_bytes does not raise it; 0 removes the hub limit.
  f.ingest->set_max_record_bytes(1 << 20);
  f.ingest->on_message(topic, std::string(1001, 'c'), 1);
  f.ingest->set_max_record_bytes(0);
  f.ingest->on_message(topic, std::string(900, 'c'), 1);
  CHECK(f.buffer->next_seq() == 4);
  CHECK(f.ingest->counters().dropped_oversize == 4);
  // Every drop is counted in the buffer too (persisted, shown by `buffer status`).
  CHECK(edgesync::test::wait_until([&] { return f.oversize() == 4; }, std::chrono::seconds(5)));
}

TEST_CASE("set_max_record_bytes is safe while messages flow") {
  Fixture f("ingest-limit-race");
  std::jthread announcer([&](const std::stop_token& st) {
    for (std::size_t n = 0; !st.stop_requested(); n = (n + 97) % 2000) {
      f.ingest->set_max_record_bytes(n);
    }
  });
  for (int i = 0; i < 500; ++i) f.ingest->on_message("s/d/x", std::string(100, 'x'), 1);
  announcer.request_stop();
  announcer.join();
  const auto& c = f.ingest->counters();
  CHECK(c.received == 500);
  CHECK(c.accepted + c.dropped_oversize == 500);
  CHECK(f.buffer->next_seq() == c.accepted + 1);
}
