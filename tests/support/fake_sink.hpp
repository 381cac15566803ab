// A Sink for unit tests: delivers from its own thread in shuffled order (like partitions
// completing independently), and fails chosen seqs once (retriable) or for good (permanent).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sink/sink.hpp"

namespace edgesync::test {

class FakeSink : public hub::Sink {
 public:
  explicit FakeSink(std::set<std::uint64_t> fail_once = {}, std::set<std::uint64_t> permanent = {},
                    bool dead_letter_topic = false)
      : fail_once_(std::move(fail_once)),
        permanent_(std::move(permanent)),
        dlq_(dead_letter_topic),
        thread_([this](const std::stop_token& st) { loop(st); }) {}
  ~FakeSink() override { close(); }
  // Stops delivering and fails what is still queued (as KafkaSink purges at shutdown), so every
  // listener hears once. Call before the service the listeners belong to goes away.
  void close() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
    std::vector<hub::DeliverySlot*> rest;
    {
      std::lock_guard lk(mu_);
      rest.swap(queue_);
      buffer_of_.clear();
      in_flight_ = 0;
    }
    for (auto* slot : rest) {
      slot->listener->on_delivery(
          *slot, {false, hub::ErrorClass::kRetriable, "_PURGE_QUEUE", "sink closed"});
    }
  }

  hub::ProduceStatus produce(const hub::SinkRecord& r, hub::DeliverySlot* slot,
                             hub::DeliveryResult*) override {
    std::lock_guard lk(mu_);
    slot->dead_letter = false;
    queue_.push_back(slot);
    buffer_of_[slot] = std::string(r.buffer_id);
    ++in_flight_;
    payload_bytes_ += r.payload.size();
    return hub::ProduceStatus::kQueued;
  }
  hub::ProduceStatus produce_dead_letter(const hub::SinkRecord&, std::string_view,
                                         hub::DeliverySlot* slot,
                                         hub::DeliveryResult* result) override {
    if (!dlq_) {
      *result = {false, hub::ErrorClass::kPermanent, "NO_DEAD_LETTER_TOPIC", "not set"};
      return hub::ProduceStatus::kFailed;
    }
    std::lock_guard lk(mu_);
    slot->dead_letter = true;
    queue_.push_back(slot);
    ++in_flight_;
    return hub::ProduceStatus::kQueued;
  }
  bool flush(std::chrono::milliseconds) override { return true; }
  std::size_t in_flight() const override { return in_flight_; }
  std::uint64_t max_record_bytes() const override { return 123456; }
  // Exactly-once replicas: when set, hellos are answered as by a replica that does not own the
  // agent; `owner` "" = no owner known (rebalancing).
  std::optional<std::string> not_owner_of_all;
  std::optional<hub::SessionStart> open_session(std::string_view, std::string_view,
                                                std::uint64_t) override {
    if (!not_owner_of_all) return std::nullopt;
    hub::SessionStart s;
    s.not_owner = true;
    s.owner = *not_owner_of_all;
    return s;
  }

  std::set<std::uint64_t> delivered() {
    std::lock_guard lk(mu_);
    return delivered_;
  }
  // The seqs delivered of one buffer id (lanes of one agent: one buffer each).
  std::set<std::uint64_t> delivered_of(const std::string& buffer) {
    std::lock_guard lk(mu_);
    auto it = delivered_by_buffer_.find(buffer);
    return it == delivered_by_buffer_.end() ? std::set<std::uint64_t>() : it->second;
  }
  std::set<std::uint64_t> dead_lettered() {
    std::lock_guard lk(mu_);
    return dead_lettered_;
  }
  std::size_t payload_bytes() {
    std::lock_guard lk(mu_);
    return payload_bytes_;
  }
  std::size_t produced_total() {
    std::lock_guard lk(mu_);
    return produced_;
  }

 private:
  void loop(const std::stop_token& st) {
    std::mt19937 rng(7);
    while (!st.stop_requested()) {
      std::vector<hub::DeliverySlot*> batch;
      {
        std::lock_guard lk(mu_);
        batch.swap(queue_);
      }
      std::shuffle(batch.begin(), batch.end(), rng);
      for (auto* slot : batch) {
        hub::DeliveryResult res;
        {
          std::lock_guard lk(mu_);
          const auto seq = slot->seq;
          if (slot->dead_letter) {
            dead_lettered_.insert(seq);
          } else if (permanent_.count(seq)) {
            res = {false, hub::ErrorClass::kPermanent, "MSG_SIZE_TOO_LARGE", "injected"};
          } else if (fail_once_.erase(seq)) {
            res = {false, hub::ErrorClass::kRetriable, "_MSG_TIMED_OUT", "injected"};
          } else {
            delivered_.insert(seq);
            if (auto b = buffer_of_.find(slot); b != buffer_of_.end()) {
              delivered_by_buffer_[b->second].insert(seq);
            }
          }
          buffer_of_.erase(slot);
          ++produced_;
          --in_flight_;
        }
        slot->listener->on_delivery(*slot, res);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  std::mutex mu_;
  std::vector<hub::DeliverySlot*> queue_;
  std::set<std::uint64_t> fail_once_, permanent_, delivered_, dead_lettered_;
  std::map<hub::DeliverySlot*, std::string> buffer_of_;  // produced, not yet delivered
  std::map<std::string, std::set<std::uint64_t>> delivered_by_buffer_;
  bool dlq_;
  std::size_t produced_ = 0, payload_bytes_ = 0;
  std::atomic<std::size_t> in_flight_{0};
  std::jthread thread_;
};

}  // namespace edgesync::test
