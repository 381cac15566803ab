// A TCP proxy on 127.0.0.1 for link-fault tests: forwards to an upstream port and can freeze the
// link (bytes stop flowing in both directions, connections stay open: a dead link, not a refused
// one), cut it (close every connection) or resume.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace edgesync::test {

class FaultProxy {
 public:
  explicit FaultProxy(int upstream_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  void freeze() { frozen_ = true; }
  void resume() { frozen_ = false; }
  void cut();  // closes all current connections (new ones are accepted)
  int connections_accepted() const { return accepted_.load(); }

 private:
  void accept_loop();
  void pump(int client, int upstream);
  int listen_fd_ = -1;
  int port_ = 0;
  int upstream_port_;
  std::atomic<bool> stop_{false}, frozen_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> generation_{0};
  std::mutex mu_;
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

}  // namespace edgesync::test
