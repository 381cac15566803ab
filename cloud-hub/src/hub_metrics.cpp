#include "hub_metrics.hpp"

namespace edgesync::hub {
namespace {

template <typename B>
auto& family(B&& builder, prometheus::Registry& r, const char* name, const char* help) {
  return builder.Name(name).Help(help).Register(r);
}

}  // namespace

HubMetrics::HubMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      streams_open_(family(prometheus::BuildGauge(), *registry_, "edgesync_hub_streams_open",
                           "Agent streams currently open on this replica")
                        .Add({})),
      streams_opened_(family(prometheus::BuildCounter(), *registry_,
                             "edgesync_hub_streams_opened_total",
                             "Agent streams accepted (hello passed every check)")
                          .Add({})),
      rejected_(family(prometheus::BuildCounter(), *registry_,
                       "edgesync_hub_streams_rejected_total",
                       "Agent streams refused or closed with an error, by reason")),
      records_in_(family(prometheus::BuildCounter(), *registry_, "edgesync_hub_records_in_total",
                         "Records received from agents and handed to Kafka")
                      .Add({})),
      records_out_(family(prometheus::BuildCounter(), *registry_, "edgesync_hub_records_out_total",
                          "Records Kafka confirmed (successful delivery reports)")
                       .Add({})),
      duplicates_(family(prometheus::BuildCounter(), *registry_,
                         "edgesync_hub_duplicates_skipped_total",
                         "Resent records already known durable, acked without rewriting")
                      .Add({})),
      acks_(family(prometheus::BuildCounter(), *registry_, "edgesync_hub_acks_sent_total",
                   "Cumulative acks sent to agents")
                .Add({})),
      slow_downs_(family(prometheus::BuildCounter(), *registry_,
                         "edgesync_hub_slow_downs_sent_total",
                         "SlowDown messages sent to agents while backpressured")
                      .Add({})),
      rate_limited_(family(prometheus::BuildCounter(), *registry_,
                           "edgesync_hub_rate_limited_total",
                           "Streams closed with RESOURCE_EXHAUSTED by the per-agent rate limit")
                        .Add({})),
      latency_(family(prometheus::BuildHistogram(), *registry_,
                      "edgesync_hub_delivery_latency_seconds",
                      "Per batch: time from produce to the last record's Kafka delivery report")
                   .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01,
                                                                    0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                                    2.5, 5, 10, 30, 60, 120})),
      kafka_errors_(
          family(prometheus::BuildCounter(), *registry_, "edgesync_hub_kafka_errors_total",
                 "Kafka producer errors and failed deliveries, by librdkafka error name")),
      dead_lettered_(family(prometheus::BuildCounter(), *registry_,
                            "edgesync_hub_dead_lettered_total",
                            "Records Kafka refused for a permanent reason, put aside: to=topic "
                            "(kafka.dead_letter_topic) or to=agent (Ack.rejected)")),
      transactions_(family(prometheus::BuildCounter(), *registry_,
                           "edgesync_hub_transactions_total",
                           "kafka.delivery exactly_once: Kafka transactions ended, by outcome "
                           "(committed, aborted, fatal)")),
      in_flight_(family(prometheus::BuildGauge(), *registry_, "edgesync_hub_kafka_in_flight",
                        "Records handed to Kafka and not yet confirmed (all streams)")
                     .Add({})),
      ready_(family(prometheus::BuildGauge(), *registry_, "edgesync_hub_ready",
                    "1 when /readyz answers 200")
                 .Add({})) {}

void HubMetrics::stream_rejected(const std::string& reason) {
  rejected_.Add({{"reason", reason}}).Increment();
}

void HubMetrics::batch_durable(std::chrono::steady_clock::duration latency) {
  latency_.Observe(std::chrono::duration<double>(latency).count());
}

void HubMetrics::delivered(bool ok, const std::string& error_name) {
  if (ok) {
    records_out_.Increment();
  } else {
    kafka_errors_.Add({{"type", "delivery:" + error_name}}).Increment();
  }
}

void HubMetrics::kafka_error(const std::string& error_name) {
  kafka_errors_.Add({{"type", error_name}}).Increment();
}

}  // namespace edgesync::hub
