// Health, readiness and Prometheus metrics of the agent, plus the state snapshot the field CLI
// reads from the buffer (`buffer status`). A ticker copies the components' counters once a second.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "buffer/buffer.hpp"
#include "ingest/mqtt_ingest.hpp"
#include "uplink/uplink.hpp"

namespace prometheus {
class Registry;
}
namespace edgesync {
class StatusServer;
}

namespace edgesync::agent {

class AgentMonitor {
 public:
  // One priority lane: its buffer and its uplink.
  struct LaneSource {
    std::string name;  // "" = the default lane (label "default")
    BufferMonitor& buffer;
    const Uplink& uplink;
  };
  // `buffer` and `uplink` are the default lane's (the unlabelled series); `lanes` lists every
  // lane, the default one included, for the lane-labelled series, readiness and the state each
  // lane's file publishes. Empty: the default lane alone.
  struct Sources {
    BufferMonitor& buffer;
    const MqttIngest& ingest;
    const Uplink& uplink;
    std::string mqtt_uri, hub;
    std::vector<LaneSource> lanes = {};
  };
  // `listen` empty: no HTTP server, but the state snapshot is still written.
  AgentMonitor(Sources src, const std::string& listen);
  ~AgentMonitor();
  AgentMonitor(const AgentMonitor&) = delete;
  AgentMonitor& operator=(const AgentMonitor&) = delete;
  // Starts the once-a-second refresh of the metrics and the published state.
  void start();
  int port() const;
  void stop();

 private:
  struct Metrics;
  void tick();
  Sources src_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Metrics> m_;
  std::unique_ptr<StatusServer> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::jthread ticker_;
};

}  // namespace edgesync::agent
