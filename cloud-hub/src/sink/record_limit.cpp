#include "record_limit.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace edgesync::hub {

std::map<std::string, std::uint64_t> topics_max_message_bytes(
    rd_kafka_t* rk, const std::vector<std::string>& topics, std::chrono::milliseconds timeout) {
  std::vector<rd_kafka_ConfigResource_t*> res;
  res.reserve(topics.size());
  for (const auto& t : topics) {
    res.push_back(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, t.c_str()));
  }
  const auto free_res = [&] {
    for (auto* r : res) rd_kafka_ConfigResource_destroy(r);
  };
  std::unique_ptr<rd_kafka_AdminOptions_t, decltype(&rd_kafka_AdminOptions_destroy)> opts(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS),
      &rd_kafka_AdminOptions_destroy);
  char errstr[256];
  rd_kafka_AdminOptions_set_request_timeout(opts.get(), static_cast<int>(timeout.count()), errstr,
                                            sizeof(errstr));
  std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> q(rd_kafka_queue_new(rk),
                                                                         &rd_kafka_queue_destroy);
  rd_kafka_DescribeConfigs(rk, res.data(), res.size(), opts.get(), q.get());
  free_res();
  std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)> ev(
      rd_kafka_queue_poll(q.get(), static_cast<int>(timeout.count()) + 1000),
      &rd_kafka_event_destroy);
  if (!ev || rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  const auto* result = rd_kafka_event_DescribeConfigs_result(ev.get());
  if (!result) return {};
  std::size_t n = 0;
  const auto** resources = rd_kafka_DescribeConfigs_result_resources(result, &n);
  std::map<std::string, std::uint64_t> out;
  for (std::size_t i = 0; i < n; ++i) {
    if (rd_kafka_ConfigResource_error(resources[i]) != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    std::size_t m = 0;
    const auto** entries = rd_kafka_ConfigResource_configs(resources[i], &m);
    for (std::size_t k = 0; k < m; ++k) {
      const char* value = rd_kafka_ConfigEntry_value(entries[k]);
      if (std::strcmp(rd_kafka_ConfigEntry_name(entries[k]), "max.message.bytes") != 0 || !value) {
        continue;
      }
      const std::uint64_t v = std::strtoull(value, nullptr, 10);
      if (v > 0) out[rd_kafka_ConfigResource_name(resources[i])] = v;
    }
  }
  return out;
}

}  // namespace edgesync::hub
