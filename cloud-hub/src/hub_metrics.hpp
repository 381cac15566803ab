// Prometheus metrics of the hub (served on /metrics by edgesync::StatusServer). Owned by main and
// handed by reference to the sink and the sync service; every method is thread-safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <memory>
#include <string>

namespace edgesync::hub {

class HubMetrics {
 public:
  HubMetrics();
  HubMetrics(const HubMetrics&) = delete;
  HubMetrics& operator=(const HubMetrics&) = delete;

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // Admitted (passed authentication and the stream caps): counted open until it ends.
  void stream_admitted() { streams_open_.Increment(); }
  // Its hello passed every check and the welcome is on its way.
  void stream_opened() { streams_opened_.Increment(); }
  void stream_closed() { streams_open_.Decrement(); }
  // `reason` is a short fixed word (bad_hello, unauthenticated, permission_denied, stale_epoch,
  // rate_limited, draining, ...), never client-controlled text.
  void stream_rejected(const std::string& reason);
  void records_in(std::uint64_t n) { records_in_.Increment(static_cast<double>(n)); }
  void duplicates_skipped(std::uint64_t n) { duplicates_.Increment(static_cast<double>(n)); }
  void ack_sent() { acks_.Increment(); }
  void slow_down_sent() { slow_downs_.Increment(); }
  void rate_limited() { rate_limited_.Increment(); }
  // One delivery report; `error_name` empty when ok.
  void delivered(bool ok, const std::string& error_name);
  // A batch's last record resolved: time from its produce to then.
  void batch_durable(std::chrono::steady_clock::duration latency);
  // A record Kafka refused for good, put aside: `to` is "topic" (dead-letter topic) or "agent"
  // (handed back in Ack.rejected).
  void dead_lettered(const std::string& to) { dead_lettered_.Add({{"to", to}}).Increment(); }
  double records_in_total() const { return records_in_.Value(); }
  double duplicates_total() const { return duplicates_.Value(); }
  double acks_total() const { return acks_.Value(); }
  double rate_limited_total() const { return rate_limited_.Value(); }
  // A producer error event (broker down, auth failure, ...) by librdkafka error name.
  void kafka_error(const std::string& error_name);
  // exactly_once: one transaction ended; `outcome` is committed, aborted or fatal.
  void transaction(const std::string& outcome) {
    transactions_.Add({{"outcome", outcome}}).Increment();
  }
  void set_in_flight(std::size_t n) { in_flight_.Set(static_cast<double>(n)); }
  void set_ready(bool ready) { ready_.Set(ready ? 1 : 0); }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge& streams_open_;
  prometheus::Counter& streams_opened_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Counter& records_in_;
  prometheus::Counter& records_out_;
  prometheus::Counter& duplicates_;
  prometheus::Counter& acks_;
  prometheus::Counter& slow_downs_;
  prometheus::Counter& rate_limited_;
  prometheus::Histogram& latency_;
  prometheus::Family<prometheus::Counter>& kafka_errors_;
  prometheus::Family<prometheus::Counter>& dead_lettered_;
  prometheus::Family<prometheus::Counter>& transactions_;
  prometheus::Gauge& in_flight_;
  prometheus::Gauge& ready_;
};

}  // namespace edgesync::hub
