// One thread for every timer of every stream (hello deadlines, SlowDown repeats, grace periods):
// the hub's thread count does not grow with agents. A callback runs on that thread and must be
// short; it holds a weak reference to its stream, so a stream that ended costs nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace edgesync::hub {

class Timers {
 public:
  using Clock = std::chrono::steady_clock;
  Timers();
  ~Timers();
  Timers(const Timers&) = delete;
  Timers& operator=(const Timers&) = delete;

  void at(Clock::time_point when, std::function<void()> fn);
  void after(Clock::duration d, std::function<void()> fn) { at(Clock::now() + d, std::move(fn)); }

 private:
  struct Entry {
    Clock::time_point when;
    std::uint64_t order;
    std::function<void()> fn;
    bool operator>(const Entry& o) const {
      return when != o.when ? when > o.when : order > o.order;
    }
  };
  void loop(const std::stop_token& stop);

  std::mutex mu_;
  std::condition_variable_any cv_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue_;
  std::uint64_t next_order_ = 0;
  std::jthread thread_;
};

}  // namespace edgesync::hub
