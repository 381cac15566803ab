// HTTP endpoints for operators and Kubernetes probes, on one port:
//   /healthz  200 while the process serves requests (liveness)
//   /readyz   200 when `ready()` says so, else 503 with the reason (readiness)
//   /metrics  Prometheus text format of `registry`
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace prometheus {
class Registry;
}
class CivetServer;

namespace edgesync {

class StatusServer {
 public:
  // `ready` returns true, or false and fills the reason. `listen` is "host:port" ("0" = any port).
  using ReadyFn = std::function<bool(std::string* reason)>;
  StatusServer(const std::string& listen, std::shared_ptr<prometheus::Registry> registry,
               ReadyFn ready);
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;
  int port() const { return port_; }

 private:
  class Handlers;
  std::unique_ptr<Handlers> handlers_;
  std::unique_ptr<CivetServer> server_;
  int port_ = 0;
};

}  // namespace edgesync
