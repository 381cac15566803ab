#include "buffer/buffer_rescue.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace edgesync::agent {
namespace {

constexpr std::string_view kMagic = "edgesync-rescue 1\n";

template <typename T>
void put(std::string& out, T v) {
  static_assert(std::endian::native == std::endian::little, "rescue files are little-endian");
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

void put_str(std::string& out, const std::string& s) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(s.size()));
  out += s;
}

class Reader {
 public:
  explicit Reader(std::string_view data) : d_(data) {}
  bool done() const { return pos_ == d_.size(); }
  template <typename T>
  bool get(T* v) {
    if (d_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(v, d_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool get_str(std::string* s) {
    std::uint32_t n = 0;
    if (!get(&n) || d_.size() - pos_ < n) return false;
    s->assign(d_.substr(pos_, n));
    pos_ += n;
    return true;
  }

 private:
  std::string_view d_;
  std::size_t pos_ = 0;
};

}  // namespace

bool write_rescue(const std::string& path, const std::string& reason,
                  std::span<const IncomingMessage> messages) {
  std::string out(kMagic);
  for (char c : reason) out += (c == '\n' ? ' ' : c);
  out += '\n';
  for (const auto& m : messages) {
    put_str(out, m.device_id);
    put_str(out, m.topic);
    put_str(out, m.payload);
    put<std::int64_t>(out, m.received_unix_ns);
    put<std::uint8_t>(out, static_cast<std::uint8_t>(m.qos));
  }
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::size_t off = 0;
  while (off < out.size()) {
    const ssize_t n = ::write(fd, out.data() + off, out.size() - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  const bool ok = off == out.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

std::optional<Rescue> read_rescue(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Rescue r;
  if (!std::string_view(data).starts_with(kMagic)) {
    // An agent of this version before rescue files wrote the reason only; anything else is
    // damage, and the reason is kept for the log.
    r.reason = data.substr(0, std::min<std::size_t>(data.find('\n'), 300));
    return r;
  }
  const std::size_t eol = data.find('\n', kMagic.size());
  if (eol == std::string::npos) {
    r.damage = "no reason line";
    return r;
  }
  r.reason = data.substr(kMagic.size(), std::min<std::size_t>(eol - kMagic.size(), 300));
  Reader rd(std::string_view(data).substr(eol + 1));
  while (!rd.done()) {
    IncomingMessage m;
    std::uint8_t qos = 0;
    if (!rd.get_str(&m.device_id) || !rd.get_str(&m.topic) || !rd.get_str(&m.payload) ||
        !rd.get(&m.received_unix_ns) || !rd.get(&qos) || qos > 2) {
      r.damage = "cut short or malformed after " + std::to_string(r.messages.size()) + " messages";
      break;
    }
    m.qos = qos;
    r.messages.push_back(std::move(m));
  }
  return r;
}

}  // namespace edgesync::agent
