#include "edgesync/common/shutdown.hpp"

#include <pthread.h>
#include <csignal>

#include <cerrno>
#include <ctime>

namespace edgesync {
namespace {
sigset_t stop_signals() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  return s;
}
}  // namespace

ShutdownSignal::ShutdownSignal() {
  sigset_t s = stop_signals();
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

std::optional<int> ShutdownSignal::wait_for(std::chrono::milliseconds timeout) {
  sigset_t s = stop_signals();
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1000000);
  int sig = sigtimedwait(&s, nullptr, &ts);
  if (sig < 0) return std::nullopt;
  return sig;
}

int ShutdownSignal::wait() {
  sigset_t s = stop_signals();
  int sig = 0;
  while (sigwait(&s, &sig) != 0) {
  }
  return sig;
}

}  // namespace edgesync
