#pragma once
#include <string>
#include <string_view>

namespace edgesync {
// Reads a secret (token, password) from a file, stripping one trailing newline. Throws
// std::runtime_error naming the file (never the content) when it cannot be read.
std::string read_secret_file(const std::string& path);
// Resolves "file:/path", "env:NAME" or a literal value. Used for pass-through properties.
std::string resolve_secret(std::string_view spec);
// Reads a whole (non-secret) file such as a PEM certificate; throws naming the file.
std::string read_text_file(const std::string& path);
}  // namespace edgesync
