#include "uplink/stop_signal.hpp"

#include <grpcpp/client_context.h>

namespace edgesync::agent {

bool StopSignal::attach(grpc::ClientContext* ctx) {
  std::lock_guard lk(mu_);
  if (stopping_) return false;
  live_ctx_ = ctx;
  return true;
}

void StopSignal::detach() {
  std::lock_guard lk(mu_);
  live_ctx_ = nullptr;
}

bool StopSignal::stopping() {
  std::lock_guard lk(mu_);
  return stopping_;
}

void StopSignal::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    if (live_ctx_ != nullptr) live_ctx_->TryCancel();
  }
  cv_.notify_all();
}

bool StopSignal::wait_for(std::chrono::milliseconds d) {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, d, [&] { return stopping_; });
}

}  // namespace edgesync::agent
