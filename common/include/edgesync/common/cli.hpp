// One command-line behaviour for every binary (edge-agent, cloud-hub, sensor-sim;
// docs/field-cli.md):
// `--help` and `--version` answer with exit 0 anywhere on the line (also after a subcommand:
// `edge-agent run --version`), an unknown command is named, and every usage error exits 2.
// Header-only: the includer links CLI11.
#pragma once

#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

namespace edgesync::cli {

inline constexpr int kUsageError = 2;

namespace detail {

inline void fall_through(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    sub->fallthrough();  // an option a subcommand does not know (--version) goes to its parent
    fall_through(*sub);
  }
}

// "run, check-config, buffer"
inline std::string command_names(CLI::App& app) {
  std::string names;
  for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    names += (names.empty() ? "" : ", ") + sub->get_name();
  }
  return names;
}

}  // namespace detail

// The first word that stands where a command is expected but names none ("edge-agent bogus",
// "edge-agent buffer bogus"): its message, or nullopt.
inline std::optional<std::string> unknown_command(CLI::App& app, int argc, char** argv) {
  CLI::App* cur = &app;
  std::string path = app.get_name();
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.empty() || arg.front() == '-') return std::nullopt;  // options: CLI11 checks them
    if (cur->get_subcommands([](CLI::App*) { return true; }).empty()) return std::nullopt;
    CLI::App* sub = nullptr;
    for (CLI::App* candidate : cur->get_subcommands([](CLI::App*) { return true; })) {
      if (candidate->check_name(std::string(arg))) sub = candidate;
    }
    if (sub == nullptr) {
      std::string msg = path;
      msg += ": unknown command '";
      msg += arg;
      msg += "'; commands: " + detail::command_names(*cur);
      msg += " (see " + path + " --help)";
      return msg;
    }
    cur = sub;
    path += " " + sub->get_name();
  }
  return std::nullopt;
}

// Parses; returns the exit code when the program is done (help, version, a usage error: 2, or a
// subcommand callback's own result thrown as CLI::RuntimeError), nullopt when it should go on.
inline std::optional<int> parse(CLI::App& app, std::string_view program, int argc, char** argv) {
  app.name(std::string(program));  // in messages and usage lines, whatever argv[0] is
  detail::fall_through(app);
  if (const auto unknown = unknown_command(app, argc, argv)) {
    std::cerr << *unknown << "\n";
    return kUsageError;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    if (dynamic_cast<const CLI::RuntimeError*>(&e) != nullptr) return code;
    return code == 0 ? 0 : kUsageError;
  }
  return std::nullopt;
}

}  // namespace edgesync::cli
