// cloud-hub: gRPC server for edge agents -> Kafka (idempotent producer, acks=all).
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "edgesync/common/cli.hpp"
#include "edgesync/common/logging.hpp"
#include "edgesync/common/secrets.hpp"
#include "edgesync/common/shutdown.hpp"
#include "edgesync/common/status_server.hpp"
#include "hub_config.hpp"
#include "sink/kafka_sink.hpp"
#include "sink/txn_sink.hpp"
#include "stream/sync_service.hpp"

namespace {

using namespace edgesync;
using namespace edgesync::hub;

std::shared_ptr<grpc::ServerCredentials> server_credentials(const HubConfig& cfg) {
  if (!cfg.tls.enabled) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions o(
      cfg.tls.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
      : cfg.tls.ca_file.empty()   ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                  : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  if (!cfg.tls.ca_file.empty()) o.pem_root_certs = read_text_file(cfg.tls.ca_file);
  o.pem_key_cert_pairs.push_back(
      {read_text_file(cfg.tls.key_file), read_text_file(cfg.tls.cert_file)});
  return grpc::SslServerCredentials(o);
}

int run_hub(const std::string& config_path) {
  ShutdownSignal shutdown;  // before any thread starts
  HubConfig cfg = load_hub_config(config_path, "pass an existing file with --config FILE");
  setup_logging("cloud-hub", cfg.log_level, cfg.log_format);
  spdlog::info("cloud-hub {} starting as '{}'", EDGESYNC_VERSION, cfg.hub_id);

  HubMetrics metrics;
  // Destroyed in reverse: the server first (no new streams), then the sink (its last delivery
  // reports still reach live streams and the service), then the service.
  // exactly_once: a fatal or fenced transactional producer stops the hub (SIGTERM to itself: the
  // usual drain), which exits 3 for its orchestrator to restart it (docs/cloud-hub.md).
  TxnSink* txn = nullptr;
  std::unique_ptr<Sink> sink;
  if (cfg.kafka.exactly_once) {
    auto t = std::make_unique<TxnSink>(cfg.kafka, resolve_secret(cfg.advertise_address), &metrics,
                                       [] { ::kill(::getpid(), SIGTERM); });
    txn = t.get();
    sink = std::move(t);
  } else {
    sink = std::make_unique<KafkaSink>(cfg.kafka, &metrics);
  }
  SyncService service(cfg, *sink, &metrics);
  std::unique_ptr<StatusServer> status;
  if (!cfg.metrics_listen.empty()) {
    status = std::make_unique<StatusServer>(cfg.metrics_listen, metrics.registry(),
                                            [&](std::string* why) {
                                              bool ok = true;
                                              if (service.draining()) {
                                                *why = "draining (shutting down)";
                                                ok = false;
                                              } else {
                                                ok = sink->healthy(why);
                                              }
                                              metrics.set_ready(ok);
                                              return ok;
                                            });
    spdlog::info("cloud-hub: /healthz /readyz /metrics on {} (port {})", cfg.metrics_listen,
                 status->port());
  }

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(cfg.listen, server_credentials(cfg), &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(static_cast<int>(cfg.max_batch_bytes + (1 << 20)));
  // Agents ping to detect dead links; allow it (the defaults would answer GOAWAY).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  // A transport-level backstop above hub.max_streams_per_connection (which refuses with a
  // status, a metric and a log line): HTTP/2 never lets one connection open more than this.
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONCURRENT_STREAMS,
      static_cast<int>(std::min<std::size_t>(2 * cfg.max_streams_per_connection + 8, 1 << 20)));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    spdlog::critical("cannot listen on {} (address in use or not local?)", cfg.listen);
    return 1;
  }
  spdlog::info("cloud-hub listening on {} (port {}), tls={}", cfg.listen, port, cfg.tls.enabled);

  const int sig = shutdown.wait();
  spdlog::info("cloud-hub: signal {} received; draining for up to {} ms", sig,
               cfg.shutdown_grace.count());
  const auto deadline = std::chrono::system_clock::now() + cfg.shutdown_grace;
  service.begin_drain();
  server->Shutdown(deadline);  // waits for streams to end, cancels the rest at the deadline
  server.reset();
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::system_clock::now());
  sink->flush(std::max(left, std::chrono::milliseconds(1000)));
  status.reset();
  const bool producer_failed = txn && txn->failed();
  sink.reset();
  spdlog::info("cloud-hub: stopped; {} records in, {} duplicates skipped, {} acks sent",
               metrics.records_in_total(), metrics.duplicates_total(), metrics.acks_total());
  return producer_failed ? 3 : 0;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"edgesync cloud hub: edge agents -> gRPC -> Kafka"};
  app.set_version_flag("--version", std::string("cloud-hub ") + EDGESYNC_VERSION);
  app.require_subcommand(1);
  std::string config_path, check_path;
  auto* run = app.add_subcommand("run", "Run the hub");
  run->add_option("-c,--config", config_path, "Config file (YAML)")->required();
  auto* check = app.add_subcommand("check-config", "Validate a config file and exit");
  check->add_option("file", check_path, "Config file (YAML)")->required();
  auto* ref = app.add_subcommand("config-reference", "Print the config key reference (Markdown)");
  if (const auto done = edgesync::cli::parse(app, "cloud-hub", argc, argv)) return *done;
  try {
    if (*run) return run_hub(config_path);
    if (*check) {
      auto cfg = load_hub_config(check_path, "pass an existing file: cloud-hub check-config FILE");
      try {
        (void)producer_conf(cfg.kafka);  // kafka.properties through librdkafka, as `run` would
      } catch (const std::invalid_argument& e) {
        throw edgesync::config::ConfigError(check_path + ": " + e.what());
      }
      std::cout << check_path << ": OK (listen " << cfg.listen << ", Kafka "
                << cfg.kafka.bootstrap_servers << ", " << cfg.kafka.routes.size() << " route(s))\n";
      return 0;
    }
    if (*ref) {
      std::cout << hub_schema().reference_markdown();
      return 0;
    }
  } catch (const edgesync::config::ConfigError& e) {
    std::cerr << "config error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "cloud-hub: " << e.what() << "\n";
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  // Only what escapes the handling above (e.g. CLI11 set-up): a message, not std::terminate.
  std::cerr << "cloud-hub: " << e.what() << "\n";
  return 1;
}
