#include "auth.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "edgesync/common/secrets.hpp"

namespace edgesync::hub {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::string_view bearer_token(const grpc::ServerContextBase& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return {};
  std::string_view v(it->second.data(), it->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (v.substr(0, kBearer.size()) != kBearer) return {};
  return trim(v.substr(kBearer.size()));
}

}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b) {
  const std::size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0U : 1U;
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff |= static_cast<unsigned>(x ^ y);
  }
  return diff == 0;
}

TokenTable TokenTable::parse(std::string_view text) {
  TokenTable t;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (const auto hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    const auto sp = line.find_first_of(" \t");
    const std::string_view id = line.substr(0, sp);
    const std::string_view token =
        sp == std::string_view::npos ? std::string_view() : trim(line.substr(sp));
    if (id.empty() || token.empty() || token.find_first_of(" \t") != std::string_view::npos) {
      throw std::invalid_argument("line " + std::to_string(line_no) +
                                  ": expected `agent-id token`");
    }
    t.entries_.emplace_back(std::string(id), std::string(token));
  }
  return t;
}

std::string TokenTable::owner_of(std::string_view token) const {
  std::string owner;
  for (const auto& [id, tok] : entries_) {
    if (constant_time_equal(tok, token) && owner.empty()) owner = id;
  }
  return owner;
}

std::vector<std::string> certificate_identities(const grpc::AuthContext& auth) {
  std::vector<std::string> out;
  if (!auth.IsPeerAuthenticated()) return out;
  for (const char* prop : {GRPC_X509_CN_PROPERTY_NAME, GRPC_X509_SAN_PROPERTY_NAME}) {
    for (const auto& v : auth.FindPropertyValues(prop)) out.emplace_back(v.data(), v.size());
  }
  return out;
}

bool certificate_proves(const std::vector<std::string>& identities, std::string_view agent_id) {
  for (const auto& id : identities) {
    if (id == agent_id) return true;
    if (id.find("://") != std::string::npos) {
      const auto slash = id.rfind('/');
      if (slash != std::string::npos && std::string_view(id).substr(slash + 1) == agent_id) {
        return true;
      }
    }
  }
  return false;
}

Authenticator::Authenticator(const HubConfig& cfg) : tokens_path_(cfg.tokens_file) {
  if (tokens_path_.empty()) return;
  try {
    tokens_ = TokenTable::parse(read_text_file(tokens_path_));
    tokens_mtime_ = std::filesystem::last_write_time(tokens_path_);
  } catch (const std::exception& e) {
    throw std::invalid_argument("hub.tokens_file '" + tokens_path_ + "': " + e.what());
  }
  next_check_ = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  spdlog::info("hub: {} agent token(s) loaded from {}", tokens_.size(), tokens_path_);
}

void Authenticator::reload_if_changed() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_check_) return;
  next_check_ = now + std::chrono::seconds(2);
  std::error_code ec;
  const auto mtime = std::filesystem::last_write_time(tokens_path_, ec);
  if (ec || mtime == tokens_mtime_) return;
  try {
    tokens_ = TokenTable::parse(read_text_file(tokens_path_));
    tokens_mtime_ = mtime;
    spdlog::info("hub: reloaded {} agent token(s) from {}", tokens_.size(), tokens_path_);
  } catch (const std::exception& e) {
    spdlog::warn("hub: keeping the previous tokens: cannot reload {}: {}", tokens_path_, e.what());
  }
}

grpc::Status Authenticator::authenticate(const grpc::ServerContextBase& ctx, Identity* out) {
  const auto auth = ctx.auth_context();
  out->certificate = auth ? certificate_identities(*auth) : std::vector<std::string>{};
  out->token_owner.clear();
  if (tokens_path_.empty()) return grpc::Status::OK;
  const std::string_view token = bearer_token(ctx);
  if (token.empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "no `authorization: Bearer <token>` metadata (hub.tokens_file is set)");
  }
  {
    std::lock_guard lk(mu_);
    reload_if_changed();
    out->token_owner = tokens_.owner_of(token);
  }
  if (out->token_owner.empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown token");
  }
  return grpc::Status::OK;
}

grpc::Status Identity::permits(const std::string& agent_id) const {
  if (!certificate.empty() && !certificate_proves(certificate, agent_id)) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "hello claims agent '" + agent_id +
                            "' but the client certificate is for '" + certificate.front() + "'");
  }
  if (!token_owner.empty() && token_owner != agent_id) {
    return grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        "hello claims agent '" + agent_id + "' but the token belongs to '" + token_owner + "'");
  }
  return grpc::Status::OK;
}

}  // namespace edgesync::hub
