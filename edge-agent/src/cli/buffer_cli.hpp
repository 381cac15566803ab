// `edge-agent buffer status|tail|export|purge`: the field-tech CLI (docs/field-cli.md).
#pragma once

#include <CLI/CLI.hpp>

namespace edgesync::agent {

// Registers the `buffer` subcommand tree on `app`. Each command runs from its CLI11 callback
// during app.parse(); a non-zero exit code (1 runtime error, 2 usage error) leaves parse() as
// CLI::RuntimeError(code), which CLI11_PARSE turns into main's return value.
void add_buffer_commands(CLI::App& app);

}  // namespace edgesync::agent
