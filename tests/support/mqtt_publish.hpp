// Publishes raw payloads with Paho (header only: the including test links
// PahoMqttCpp::paho-mqttpp3, the shared support library does not).
#pragma once

#include <unistd.h>

#include <mqtt/async_client.h>

#include <string>
#include <vector>

namespace edgesync::test {

// Publishes `payloads` to `topic` at QoS 1 and waits for the broker's PUBACKs.
inline void publish(const std::string& uri, const std::string& topic,
                    const std::vector<std::string>& payloads) {
  mqtt::async_client c(uri, "test-pub-" + std::to_string(::getpid()));
  c.connect()->wait();
  for (const auto& p : payloads) c.publish(topic, p.data(), p.size(), 1, false)->wait();
  c.disconnect()->wait();
}

}  // namespace edgesync::test
