// Agent identity: an agent id is bound to its client certificate (CN or a DNS/URI SAN, verified
// by gRPC against hub.tls.ca_file) and/or to a token from hub.tokens_file. A hello claiming
// another id is refused with PERMISSION_DENIED; a missing or unknown token with UNAUTHENTICATED.
// Tokens are compared in constant time and never logged.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "hub_config.hpp"

namespace edgesync::hub {

// Equal without an early exit (time depends on the lengths only).
bool constant_time_equal(std::string_view a, std::string_view b);

// `agent-id token` lines; `#` starts a comment; blank lines ignored. Throws std::invalid_argument
// naming the line (never its token) on a malformed line.
class TokenTable {
 public:
  TokenTable() = default;
  static TokenTable parse(std::string_view text);
  std::size_t size() const { return entries_.size(); }
  // Every entry is compared (no early exit): the agent id the token belongs to, or "" when none.
  std::string owner_of(std::string_view token) const;

 private:
  std::vector<std::pair<std::string, std::string>> entries_;  // (agent id, token)
};

// Identities a verified client certificate proves: CN, then every DNS/URI SAN.
std::vector<std::string> certificate_identities(const grpc::AuthContext& auth);
// Whether `agent_id` is one of them (a URI SAN also matches by its last path segment, so
// `spiffe://edgesync/agent/gw-1` proves `gw-1`).
bool certificate_proves(const std::vector<std::string>& identities, std::string_view agent_id);

class Authenticator {
 public:
  // Reads the tokens file now (throws when set and unreadable or malformed).
  explicit Authenticator(const HubConfig& cfg);
  // OK, or UNAUTHENTICATED / PERMISSION_DENIED with a message safe to log (no token).
  grpc::Status check(const grpc::ServerContext& ctx, const std::string& agent_id);

 private:
  void reload_if_changed();

  std::string tokens_path_;
  std::mutex mu_;
  TokenTable tokens_;
  std::filesystem::file_time_type tokens_mtime_{};
  std::chrono::steady_clock::time_point next_check_{};
};

}  // namespace edgesync::hub
