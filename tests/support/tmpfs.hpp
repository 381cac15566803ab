// A tmpfs of `size` mounted on `dir` while it lives: a small real file system to fill (needs root
// or CAP_SYS_ADMIN; mounted() is false otherwise and why() says why, so tests can skip).
#pragma once

#include <sys/mount.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>

namespace edgesync::test {

class Tmpfs {
 public:
  Tmpfs(const std::filesystem::path& dir, const std::string& size) : dir_(dir) {
    std::filesystem::create_directories(dir_);
    const std::string opts = "size=" + size;
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, opts.c_str()) == 0;
    if (!mounted_) why_ = std::generic_category().message(errno);
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
  std::string why_;
};

}  // namespace edgesync::test
