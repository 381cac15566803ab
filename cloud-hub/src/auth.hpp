// Agent identity: an agent id is bound to its client certificate (CN or a DNS/URI SAN, verified
// by gRPC against hub.tls.ca_file) and/or to a token from hub.tokens_file. The call is
// authenticated when the stream starts, before the hello is read: a missing or unknown token is
// refused with UNAUTHENTICATED; a hello claiming another id later with PERMISSION_DENIED.
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

// Who the caller proved to be when the stream started (before anything was read).
struct Identity {
  std::vector<std::string> certificate;  // verified client certificate identities, if any
  std::string token_owner;               // agent id the bearer token belongs to, if tokens are on
  // OK when the hello's agent id is what the certificate and token prove (or nothing is
  // required), else PERMISSION_DENIED naming both.
  grpc::Status permits(const std::string& agent_id) const;
};

class Authenticator {
 public:
  // Reads the tokens file now (throws when set and unreadable or malformed).
  explicit Authenticator(const HubConfig& cfg);
  // From the call's metadata and peer certificate alone, when the stream starts: OK (and who the
  // caller is), or UNAUTHENTICATED with a message safe to log (no token).
  grpc::Status authenticate(const grpc::ServerContextBase& ctx, Identity* out);

 private:
  void reload_if_changed();

  std::string tokens_path_;
  std::mutex mu_;
  TokenTable tokens_;
  std::filesystem::file_time_type tokens_mtime_{};
  std::chrono::steady_clock::time_point next_check_{};
};

}  // namespace edgesync::hub
