#include "tls_certs.hpp"

#include <stdexcept>

#include "process.hpp"

namespace edgesync::test {
namespace {

void sh(const std::string& script) {
  auto [rc, out] = run_capture({"sh", "-ec", script}, std::chrono::minutes(2));
  if (rc != 0) throw std::runtime_error("openssl failed (" + std::to_string(rc) + "): " + out);
}

// An `openssl ca` directory: lets us set arbitrary validity dates (expired certificates).
void make_ca(const std::filesystem::path& d, const std::string& cn) {
  std::filesystem::create_directories(d / "issued");
  write_file(d / "ca.cnf",
             "[ca]\ndefault_ca = ca_default\n[ca_default]\ndir = " + d.string() +
                 "\ndatabase = $dir/index.txt\nserial = $dir/serial\nnew_certs_dir = "
                 "$dir/issued\ncertificate = $dir/ca.pem\nprivate_key = $dir/ca.key\n"
                 "default_md = sha256\npolicy = any\ncopy_extensions = copy\n"
                 "unique_subject = no\ndefault_days = 365\n[any]\ncommonName = supplied\n");
  write_file(d / "index.txt", "");
  write_file(d / "serial", "1000\n");
  sh("cd '" + d.string() +
     "' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
     "-keyout ca.key -out ca.pem -days 3650 -subj '/CN=" +
     cn + "' 2>&1");
}

}  // namespace

TestPki::TestPki(const std::filesystem::path& dir) : dir_(dir) {
  make_ca(dir_ / "ca", "edgesync-test-ca");
  make_ca(dir_ / "other-ca", "untrusted-ca");
  std::filesystem::copy_file(dir_ / "ca" / "ca.pem", ca(),
                             std::filesystem::copy_options::overwrite_existing);
  const auto s = issue("server", "/CN=localhost", "DNS:localhost,IP:127.0.0.1", "ca", "");
  (void)s;
}

CertPair TestPki::issue(const std::string& name, const std::string& subject, const std::string& san,
                        const std::string& ca_dir, const std::string& dates) {
  const auto key = dir_ / (name + ".key");
  const auto csr = dir_ / (name + ".csr");
  const auto cert = dir_ / (name + ".pem");
  const auto ca = dir_ / ca_dir;
  sh("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout '" +
     key.string() + "' -out '" + csr.string() + "' -subj '" + subject +
     "' -addext 'subjectAltName=" + san + "' 2>&1 && openssl ca -batch -notext -config '" +
     (ca / "ca.cnf").string() + "' -in '" + csr.string() + "' -out '" + cert.string() + "' " +
     dates + " 2>&1");
  return {cert, key};
}

CertPair TestPki::agent(const std::string& cn) {
  return issue("agent-" + cn, "/CN=" + cn, "DNS:" + cn, "ca", "");
}

CertPair TestPki::agent_uri(const std::string& name, const std::string& uri) {
  return issue("agent-uri-" + name, "/CN=edgesync-agent", "URI:" + uri, "ca", "");
}

CertPair TestPki::expired_agent(const std::string& cn) {
  return issue("expired-" + cn, "/CN=" + cn, "DNS:" + cn, "ca",
               "-startdate 20200101000000Z -enddate 20200102000000Z");
}

CertPair TestPki::foreign_agent(const std::string& cn) {
  return issue("foreign-" + cn, "/CN=" + cn, "DNS:" + cn, "other-ca", "");
}

}  // namespace edgesync::test
