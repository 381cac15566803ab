// The agent's priority lanes put together: one buffer file and one uplink per lane (the default
// lane, `buffer.*`, last), the router that gives ingest one BufferWriter over them, and the gate
// and bandwidth bucket the uplinks share. Without `lanes:` it is the default lane alone.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent_config.hpp"
#include "buffer/sqlite_buffer.hpp"
#include "ingest/lane_router.hpp"
#include "uplink/byte_bucket.hpp"
#include "uplink/lane_gate.hpp"
#include "uplink/uplink.hpp"

namespace edgesync::agent {

class AgentLanes {
 public:
  struct Lane {
    std::string name;  // "" = the default lane
    std::unique_ptr<SqliteBuffer> buffer;
    std::unique_ptr<Uplink> uplink;  // after make_uplinks()
  };
  // Opens every lane's buffer (throws at start-up like SqliteBuffer). `on_failure` is each
  // buffer's SqliteBufferOptions::on_failure.
  AgentLanes(const AgentConfig& cfg, const std::function<void()>& on_failure);

  // What ingest writes to: the router, or the default lane's buffer when there are no lanes.
  BufferWriter& writer();
  void make_uplinks(const AgentConfig& cfg, const std::function<void(std::uint64_t)>& on_limit);
  void start_uplinks();
  // Waits up to `grace` per lane for outstanding acks, then closes the streams.
  void stop_uplinks(std::chrono::milliseconds grace);
  void stop_buffers();

  // Priority order, the default lane last.
  std::vector<Lane>& lanes() { return lanes_; }
  Lane& default_lane() { return lanes_.back(); }

 private:
  std::vector<Lane> lanes_;
  std::unique_ptr<LaneRouter> router_;
  LaneGate gate_;
  ByteBucket bucket_;
};

}  // namespace edgesync::agent
