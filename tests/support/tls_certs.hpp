// Test certificates made with the openssl CLI: a CA, a server certificate for 127.0.0.1 and
// localhost, and agent client certificates (valid, from another CA, expired, with a URI SAN).
#pragma once

#include <filesystem>
#include <string>

namespace edgesync::test {

struct CertPair {
  std::filesystem::path cert, key;
};

class TestPki {
 public:
  // Creates the CA and the server certificate in `dir`.
  explicit TestPki(const std::filesystem::path& dir);
  std::filesystem::path ca() const { return dir_ / "ca.pem"; }
  CertPair server() const { return {dir_ / "server.pem", dir_ / "server.key"}; }
  // Client certificate with CN = `cn` and SAN DNS:`cn`, signed by this CA.
  CertPair agent(const std::string& cn);
  // Client certificate whose only identity is the SAN URI `uri` (CN "edgesync-agent").
  CertPair agent_uri(const std::string& name, const std::string& uri);
  // Valid 2020-01-01 .. 2020-01-02 (openssl ca -startdate/-enddate).
  CertPair expired_agent(const std::string& cn);
  // Signed by a different, untrusted CA.
  CertPair foreign_agent(const std::string& cn);

 private:
  CertPair issue(const std::string& name, const std::string& subject, const std::string& san,
                 const std::string& ca_dir, const std::string& dates);
  std::filesystem::path dir_;
};

}  // namespace edgesync::test
