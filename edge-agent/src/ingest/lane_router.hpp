// Ingest's view of the priority lanes: one BufferWriter that hands each message to the buffer of
// the first lane (by priority) whose topic filter matches it, else to the default lane's.
#pragma once

#include <string>
#include <vector>

#include "buffer/buffer.hpp"

namespace edgesync::agent {

class LaneRouter : public BufferWriter {
 public:
  struct Route {
    std::vector<std::string> filters;
    BufferWriter* buffer;
  };
  // `routes` in priority order; `fallback` takes what no route matches (the default lane).
  LaneRouter(std::vector<Route> routes, BufferWriter& fallback)
      : routes_(std::move(routes)), fallback_(fallback) {}

  AppendStatus append(IncomingMessage msg) override;
  // Drops decided before routing (oversize) are the default lane's.
  void record_drop(DropReason reason, std::uint64_t n) override {
    fallback_.record_drop(reason, n);
  }
  BufferWriter& route(const std::string& topic);

 private:
  std::vector<Route> routes_;
  BufferWriter& fallback_;
};

}  // namespace edgesync::agent
