// The simulator's deterministic payloads: tests rebuild the exact bytes of message n of a device
// to compare what arrived in Kafka byte for byte.
#pragma once

#include <chrono>
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
  const int len =
      std::snprintf(head, sizeof(head), R"({"d":"%s","n":%llu,"v":%.1f,"p":")", device.c_str(),
                    static_cast<unsigned long long>(n), static_cast<double>(n % 500) / 10.0 + 10.0);
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

// Like payload_for (JSON, same total size) but led by the publish time in unix ns:
// {"t":1764000000000000000,"d":"dev-0001",...}. Benchmarks compute latency from it.
inline std::string stamped_payload_for(const std::string& device, std::uint64_t n,
                                       std::size_t size) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  std::string head = "{\"t\":" + std::to_string(ns) + ",";
  const std::size_t rest = size > head.size() ? size - head.size() + 1 : 0;
  return head + payload_for(device, n, rest).substr(1);
}

}  // namespace edgesync::sim
