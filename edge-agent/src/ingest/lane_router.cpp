#include "ingest/lane_router.hpp"

#include "edgesync/common/mqtt_topic.hpp"

namespace edgesync::agent {

BufferWriter& LaneRouter::route(const std::string& topic) {
  for (const auto& r : routes_) {
    for (const auto& f : r.filters) {
      if (topic_matches(f, topic)) return *r.buffer;
    }
  }
  return fallback_;
}

AppendStatus LaneRouter::append(IncomingMessage msg) {
  BufferWriter& to = route(msg.topic);
  return to.append(std::move(msg));
}

}  // namespace edgesync::agent
