// The real SyncService on an in-process gRPC server (loopback, a free port) over a FakeSink: for
// unit tests that speak the protocol with RawStream.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "fake_sink.hpp"
#include "raw_client.hpp"
#include "sync_service.hpp"

namespace edgesync::test {

struct InProcessHub {
  explicit InProcessHub(const std::function<void(hub::HubConfig&)>& tweak = {},
                        std::set<std::uint64_t> permanent = {}, bool dlq = false)
      : sink({}, std::move(permanent), dlq) {
    using namespace std::chrono_literals;
    cfg.hub_id = "unit-hub";
    cfg.hello_timeout = 300ms;
    cfg.shutdown_grace = 1000ms;
    if (tweak) tweak(cfg);
    service = std::make_unique<hub::SyncService>(cfg, sink);
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(service.get());
    server = b.BuildAndStart();
  }
  ~InProcessHub() {
    service->begin_drain();
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server.reset();
    sink.close();
  }
  InProcessHub(const InProcessHub&) = delete;
  InProcessHub& operator=(const InProcessHub&) = delete;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  std::unique_ptr<RawStream> open() {
    return std::make_unique<RawStream>(RawStream::channel(address()));
  }
  hub::HubConfig cfg;
  FakeSink sink;
  std::unique_ptr<hub::SyncService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

}  // namespace edgesync::test
