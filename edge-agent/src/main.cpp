// edge-agent: MQTT -> SQLite buffer -> gRPC uplink to the cloud hub, plus the field-tech CLI.
#include <spdlog/spdlog.h>

#include <unistd.h>
#include <csignal>

#include <CLI/CLI.hpp>
#include <iostream>

#include "agent_config.hpp"
#include "agent_lanes.hpp"
#include "agent_monitor.hpp"
#include "cli/buffer_cli.hpp"
#include "edgesync/common/cli.hpp"
#include "edgesync/common/logging.hpp"
#include "edgesync/common/shutdown.hpp"
#include "ingest/mqtt_ingest.hpp"

namespace {

using namespace edgesync;
using namespace edgesync::agent;

int run_agent(const std::string& config_path) {
  ShutdownSignal shutdown;  // before any thread starts
  AgentConfig cfg = load_agent_config(config_path, "pass an existing file with --config FILE");
  setup_logging("edge-agent", cfg.log_level, cfg.log_format);
  spdlog::info("edge-agent {} starting as agent '{}'", EDGESYNC_VERSION, cfg.agent_id);

  // A buffer that failed for good ends shutdown.wait() below.
  AgentLanes lanes(cfg, [] { ::kill(::getpid(), SIGTERM); });
  MqttIngest ingest(cfg.mqtt, lanes.writer());
  lanes.make_uplinks(cfg, [&ingest](std::uint64_t limit) { ingest.set_max_record_bytes(limit); });
  auto& main_lane = lanes.default_lane();
  AgentMonitor::Sources sources{*main_lane.buffer, ingest, *main_lane.uplink, cfg.mqtt.uri,
                                cfg.uplink.hub};
  for (auto& l : lanes.lanes()) sources.lanes.push_back({l.name, *l.buffer, *l.uplink});
  AgentMonitor monitor(std::move(sources), cfg.metrics_listen);
  if (monitor.port() > 0) {
    spdlog::info("edge-agent: /healthz /readyz /metrics on port {}", monitor.port());
  }
  monitor.start();
  lanes.start_uplinks();
  ingest.start();

  const int sig = shutdown.wait();
  spdlog::info("edge-agent: signal {} received, shutting down", sig);
  ingest.stop();  // no new messages; what Paho acked is in the buffer queues
  lanes.stop_uplinks(std::chrono::milliseconds(2000));
  monitor.stop();
  lanes.stop_buffers();  // commits whatever is still queued
  int rc = 0;
  for (auto& l : lanes.lanes()) {
    const auto st = l.buffer->stats();
    spdlog::info(
        "edge-agent: stopped{}{}; {} records committed, {} acked by the hub this run, next seq {}",
        l.name.empty() ? "" : " lane ", l.name, st.committed_total, st.acked_total, st.next_seq);
    if (st.failed) {
      spdlog::critical("edge-agent: exiting with {}: the buffer file failed for good ({})",
                       kExitBufferFailed, st.failure);
      rc = kExitBufferFailed;
    }
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"edgesync edge agent: MQTT -> durable SQLite buffer -> gRPC -> cloud hub"};
  app.set_version_flag("--version", std::string("edge-agent ") + EDGESYNC_VERSION);
  app.require_subcommand(1);

  std::string config_path;
  auto* run = app.add_subcommand("run", "Run the agent");
  run->add_option("-c,--config", config_path, "Config file (YAML)")->required();

  std::string check_path;
  auto* check = app.add_subcommand("check-config", "Validate a config file and exit");
  check->add_option("file", check_path, "Config file (YAML)")->required();

  app.add_subcommand("config-reference", "Print the config key reference (Markdown)");

  add_buffer_commands(app);  // `buffer status|tail|export|purge` run from their CLI11 callbacks

  if (const auto done = edgesync::cli::parse(app, "edge-agent", argc, argv)) return *done;

  try {
    if (*run) return run_agent(config_path);
    if (*check) {
      auto cfg =
          load_agent_config(check_path, "pass an existing file: edge-agent check-config FILE");
      std::cout << check_path << ": OK (agent '" << cfg.agent_id << "', hub " << cfg.uplink.hub
                << ", buffer " << cfg.buffer.path;
      for (const auto& l : cfg.lanes) std::cout << ", lane '" << l.name << "' " << l.buffer.path;
      std::cout << ")\n";
      return 0;
    }
    if (app.got_subcommand("config-reference")) {
      std::cout << agent_schema().reference_markdown();
      return 0;
    }
  } catch (const edgesync::config::ConfigError& e) {
    std::cerr << "config error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "edge-agent: " << e.what() << "\n";
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  // Only what escapes the handling above (e.g. CLI11 set-up): a message, not std::terminate.
  std::cerr << "edge-agent: " << e.what() << "\n";
  return 1;
}
