#include "timers.hpp"

namespace edgesync::hub {

Timers::Timers() : thread_([this](const std::stop_token& stop) { loop(stop); }) {}

Timers::~Timers() {
  thread_.request_stop();
  cv_.notify_all();
}

void Timers::at(Clock::time_point when, std::function<void()> fn) {
  bool earliest;
  {
    std::lock_guard lk(mu_);
    earliest = queue_.empty() || when < queue_.top().when;
    queue_.push(Entry{when, next_order_++, std::move(fn)});
  }
  if (earliest) cv_.notify_one();
}

void Timers::loop(const std::stop_token& stop) {
  std::unique_lock lk(mu_);
  while (!stop.stop_requested()) {
    if (queue_.empty()) {
      cv_.wait(lk, stop, [&] { return !queue_.empty(); });
      continue;
    }
    const auto when = queue_.top().when;
    if (Clock::now() < when) {
      cv_.wait_until(lk, stop, when, [&] { return !queue_.empty() && queue_.top().when < when; });
      continue;
    }
    auto fn = std::move(const_cast<Entry&>(queue_.top()).fn);
    queue_.pop();
    lk.unlock();
    fn();
    lk.lock();
  }
}

}  // namespace edgesync::hub
