#include "edgesync/common/status_server.hpp"

#include <CivetServer.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sstream>
#include <stdexcept>

namespace edgesync {
namespace {

void reply(mg_connection* c, int code, const char* type, const std::string& body) {
  mg_printf(c,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            code, code == 200 ? "OK" : "Service Unavailable", type, body.size());
  mg_write(c, body.data(), body.size());
}

}  // namespace

class StatusServer::Handlers {
 public:
  struct Health : CivetHandler {
    bool handleGet(CivetServer*, mg_connection* c) override {
      reply(c, 200, "text/plain", "ok\n");
      return true;
    }
  } health;
  struct Ready : CivetHandler {
    ReadyFn fn;
    bool handleGet(CivetServer*, mg_connection* c) override {
      std::string why;
      if (fn(&why))
        reply(c, 200, "text/plain", "ready\n");
      else
        reply(c, 503, "text/plain", "not ready: " + why + "\n");
      return true;
    }
  } ready;
  struct Metrics : CivetHandler {
    std::shared_ptr<prometheus::Registry> registry;
    bool handleGet(CivetServer*, mg_connection* c) override {
      std::ostringstream out;
      prometheus::TextSerializer().Serialize(out, registry->Collect());
      reply(c, 200, "text/plain; version=0.0.4", out.str());
      return true;
    }
  } metrics;
};

StatusServer::StatusServer(const std::string& listen,
                           std::shared_ptr<prometheus::Registry> registry, ReadyFn ready)
    : handlers_(std::make_unique<Handlers>()) {
  handlers_->ready.fn = std::move(ready);
  handlers_->metrics.registry = std::move(registry);
  std::vector<std::string> options{"listening_ports",    listen, "num_threads", "2",
                                   "request_timeout_ms", "5000"};
  try {
    server_ = std::make_unique<CivetServer>(options);
  } catch (const CivetException& e) {
    throw std::runtime_error("cannot serve /healthz /readyz /metrics on '" + listen +
                             "': " + e.what() + " (is the port in use?)");
  }
  server_->addHandler("/healthz", handlers_->health);
  server_->addHandler("/readyz", handlers_->ready);
  server_->addHandler("/metrics", handlers_->metrics);
  auto ports = server_->getListeningPorts();
  port_ = ports.empty() ? 0 : ports.front();
}

StatusServer::~StatusServer() {
  if (server_) server_->close();
}

}  // namespace edgesync
