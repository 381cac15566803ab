// The simulator's deterministic payloads: tests rebuild the exact bytes of message n of a device
// to compare what arrived in Kafka byte for byte.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace edgesync::sim {

inline std::string device_name(int index) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "dev-%04d", index);
  return buf;
}

inline std::string topic_for(const std::string& prefix, const std::string& device) {
  return prefix + "/" + device + "/data";
}

// JSON text padded to at least `size` bytes: {"d":"dev-0001","n":17,"v":23.5,"p":"...."}.
// With binary=true the pad is bytes 0x00..0xFF (not UTF-8), to prove payloads are byte-exact.
inline std::string payload_for(const std::string& device, std::uint64_t n, std::size_t size,
                               bool binary = false) {
  char head[96];
  const int len = std::snprintf(head, sizeof(head), R"({"d":"%s","n":%llu,"v":%.1f,"p":")",
                                device.c_str(), static_cast<unsigned long long>(n),
                                static_cast<double>(n % 500) / 10.0 + 10.0);
  std::string s(head, static_cast<std::size_t>(len));
  const std::size_t tail = 2;  // "}
  std::size_t i = 0;
  while (s.size() + tail < size) {
    s.push_back(binary ? static_cast<char>((n + i) & 0xFF) : static_cast<char>('a' + (n + i) % 26));
    ++i;
  }
  s += "\"}";
  return s;
}

}  // namespace edgesync::sim
