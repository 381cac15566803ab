#include "buffer/disk_reserve.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace edgesync::agent {

std::int64_t free_disk_bytes(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p(path);
  if (!std::filesystem::exists(p, ec)) p = p.has_parent_path() ? p.parent_path() : ".";
  struct statvfs vfs {};
  if (::statvfs(p.c_str(), &vfs) != 0) return -1;
  return static_cast<std::int64_t>(vfs.f_bavail) * static_cast<std::int64_t>(vfs.f_frsize);
}

DiskReserve::DiskReserve(std::string db_path, std::uint64_t bytes)
    : path_(std::move(db_path) + ".reserve"), bytes_(bytes) {
  struct stat st {};
  if (bytes_ == 0) {
    ::unlink(path_.c_str());  // reserve switched off: do not keep the space of an older one
    return;
  }
  held_ = ::stat(path_.c_str(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) >= bytes_;
}

std::uint64_t DiskReserve::release() {
  if (bytes_ == 0) return 0;
  struct stat st {};
  const bool exists = ::stat(path_.c_str(), &st) == 0;
  held_ = false;
  if (!exists) return 0;
  if (::unlink(path_.c_str()) != 0) {
    spdlog::error("buffer: cannot delete the disk reserve {}: {}", path_,
                  std::generic_category().message(errno));
    return 0;
  }
  spdlog::warn("buffer: disk full: released the {} byte disk reserve {}", st.st_size, path_);
  return static_cast<std::uint64_t>(st.st_size);
}

bool DiskReserve::restore() {
  if (bytes_ == 0 || held_) return held_;
  const std::int64_t free = free_disk_bytes(path_);
  if (free < 0 || static_cast<std::uint64_t>(free) < 2 * bytes_) return false;
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  // posix_fallocate allocates real blocks (a sparse file would hold nothing back).
  const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes_));
  const bool ok = rc == 0 && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  held_ = true;
  spdlog::info("buffer: disk reserve of {} bytes in place ({})", bytes_, path_);
  return true;
}

}  // namespace edgesync::agent
