// bench-fleet-sim: a fleet of simulated edge agents against one hub (issue #10), built to stay
// off the critical path: gRPC callback API (ClientBidiReactor), no thread per stream, many
// streams per process spread over many TCP connections.
//
// Each agent: one edgesync.v1.Sync/Stream; hello (agent_id fleet-<run>-<i>, epoch = now ms,
// empty buffer: first_unacked_seq 0, next_seq = first seq it will send), waits for the welcome,
// then one batch every 1/rate s of --records x --bytes records, seqs strictly increasing from 1.
// Starts are staggered over the first period. A tick is skipped ("not sent") while the agent has
// --window unacked batches, while a SlowDown pause runs, or while the stream is not (or no
// longer) open. Acks are cumulative; ack latency = time the batch was handed to the stream to the
// ack that covers it.
//
// Prints one JSON line at the end (counts, ack latency percentiles and a 1 ms histogram so runs
// of several processes can be merged, stream errors by status code, own CPU and peak RSS).
//   bench-fleet-sim --hub 127.0.0.1:7443 --agents 1000 --duration 30
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "edgesync/v1/sync.grpc.pb.h"

namespace {

namespace v1 = edgesync::v1;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string hub = "127.0.0.1:7443";
  std::string run = "r0";
  std::string topic_prefix = "fleet";
  std::string token_file;
  int agents = 100;
  int first_agent = 0;  // index of this process's first agent (several processes, one fleet)
  int fleet_size = 0;   // agents of the whole fleet (stagger); 0 = --agents
  double duration_s = 30;
  double rate = 1;  // batches per second per agent
  int records = 10;
  std::size_t bytes = 200;
  std::size_t window = 4;
  int streams_per_connection = 8;
  double connect_rate = 0;  // streams opened per second; 0 = all at once
  double connect_timeout_s = 60;
  double drain_s = 10;
};

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
std::int64_t unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* code_name(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return "OTHER";
  }
}

// Counts of one agent; read by main only after the agent's stream is done (or under its lock).
struct AgentStats {
  std::uint64_t offered = 0, sent = 0, records_sent = 0, acked = 0, records_acked = 0;
  std::uint64_t not_sent_window = 0, not_sent_slowdown = 0, not_sent_closed = 0;
  std::uint64_t write_failed = 0, unwritten = 0, slowdowns = 0, acks = 0;
  std::vector<std::uint32_t> ack_us;  // one per acked batch
};

// Fleet-wide progress, for the main thread's waits.
struct Fleet {
  std::mutex mu;
  std::condition_variable cv;
  int welcomed = 0, done = 0;
  void bump(int Fleet::*field) {
    {
      std::lock_guard lk(mu);
      ++(this->*field);
    }
    cv.notify_all();
  }
};

class Agent final : public grpc::ClientBidiReactor<v1::AgentMessage, v1::HubMessage> {
 public:
  Agent(const Options& o, std::string id, std::string topic, const std::string& payload,
        Fleet& fleet)
      : o_(o), id_(std::move(id)), topic_(std::move(topic)), payload_(payload), fleet_(fleet) {}

  void start(v1::Sync::Stub* stub, const std::string& token) {
    if (!token.empty()) ctx_.AddMetadata("authorization", "Bearer " + token);
    stub->async()->Stream(&ctx_, this);
    auto* h = hello_.mutable_hello();
    h->set_agent_id(id_);
    h->set_epoch(static_cast<std::uint64_t>(unix_ms()));
    h->set_first_unacked_seq(0);  // buffer empty: the agent sends only records made after welcome
    h->set_next_seq(next_seq_);
    h->set_agent_version(std::string("bench-fleet-sim/") + EDGESYNC_VERSION);
    AddHold();  // the ticker starts writes from outside reactions
    write_busy_ = true;
    StartWrite(&hello_);
    StartRead(&in_);
    StartCall();
  }

  // One period of this agent is due: send a batch or count why not.
  void tick() {
    std::unique_lock lk(mu_);
    ++st_.offered;
    if (state_ != State::kOpen) {
      ++st_.not_sent_closed;
      return;
    }
    const auto now = Clock::now();
    if (now < pause_until_) {
      ++st_.not_sent_slowdown;
      return;
    }
    if (unacked_.size() >= o_.window) {
      ++st_.not_sent_window;
      return;
    }
    v1::AgentMessage m;
    auto* b = m.mutable_batch();
    b->set_batch_id(++batch_id_);
    const std::int64_t ns = unix_ns();
    const int n = std::min<int>(o_.records, max_batch_records_);
    for (int i = 0; i < n; ++i) {
      auto* r = b->add_records();
      r->set_seq(next_seq_++);
      r->set_device_id(id_);
      r->set_mqtt_topic(topic_);
      r->set_payload(payload_);
      r->set_received_unix_ns(ns);
      r->set_qos(1);
    }
    unacked_.push_back(Inflight{next_seq_ - 1, static_cast<std::uint64_t>(n), now});
    queue_.push_back(std::move(m));
    if (write_busy_) return;  // OnWriteDone takes it
    write_busy_ = true;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    ++external_ops_;
    lk.unlock();
    StartWrite(&current_);
    lk.lock();
    --external_ops_;
    release_hold_if_wanted(lk);
  }

  // End of the run: no more batches; half-close once the last write is out.
  void close() {
    std::unique_lock lk(mu_);
    if (state_ == State::kOpen || state_ == State::kConnecting) state_ = State::kClosing;
    release_wanted_ = true;
    st_.unwritten += queue_.size();
    queue_.clear();
    if (!write_busy_ && !writes_done_ && !read_failed_) {
      writes_done_ = true;
      ++external_ops_;
      lk.unlock();
      StartWritesDone();
      lk.lock();
      --external_ops_;
    }
    release_hold_if_wanted(lk);
  }

  void cancel() { ctx_.TryCancel(); }

  std::size_t unacked() {
    std::lock_guard lk(mu_);
    return unacked_.size();
  }
  bool welcomed() const { return welcomed_.load(); }
  bool finished() const { return finished_.load(); }
  const grpc::Status& status() const { return status_; }
  AgentStats& stats() { return st_; }  // only after finished()

  void OnWriteDone(bool ok) override {
    std::unique_lock lk(mu_);
    write_busy_ = false;
    if (!ok) {
      // The stream is broken; its status comes with the failed read.
      if (state_ == State::kOpen) state_ = State::kClosed;
      if (current_.has_batch()) ++st_.write_failed;
      return;
    }
    if (current_.has_batch()) {
      ++st_.sent;
      st_.records_sent += static_cast<std::uint64_t>(current_.batch().records_size());
    }
    if (!queue_.empty() && state_ == State::kOpen) {
      write_busy_ = true;
      current_ = std::move(queue_.front());
      queue_.pop_front();
      lk.unlock();
      StartWrite(&current_);
      return;
    }
    if (state_ == State::kClosing && !writes_done_ && !read_failed_) {
      writes_done_ = true;
      lk.unlock();
      StartWritesDone();
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::unique_lock lk(mu_);
      read_failed_ = true;
      state_ = State::kClosed;
      release_wanted_ = true;
      release_hold_if_wanted(lk);
      return;
    }
    {
      std::lock_guard lk(mu_);
      if (in_.has_welcome()) {
        const auto& w = in_.welcome();
        if (w.max_batch_records() > 0) max_batch_records_ = static_cast<int>(w.max_batch_records());
        if (w.durable_through() >= next_seq_) next_seq_ = w.durable_through() + 1;
        if (state_ == State::kConnecting) state_ = State::kOpen;
        if (!welcomed_.exchange(true)) fleet_.bump(&Fleet::welcomed);
      } else if (in_.has_ack()) {
        ++st_.acks;
        const std::uint64_t through = in_.ack().acked_through();
        const auto now = Clock::now();
        while (!unacked_.empty() && unacked_.front().last_seq <= through) {
          const auto us =
              std::chrono::duration_cast<std::chrono::microseconds>(now - unacked_.front().at);
          st_.ack_us.push_back(static_cast<std::uint32_t>(
              std::min<std::int64_t>(us.count(), std::numeric_limits<std::uint32_t>::max())));
          ++st_.acked;
          st_.records_acked += unacked_.front().records;
          unacked_.pop_front();
        }
      } else if (in_.has_slow_down()) {
        ++st_.slowdowns;
        pause_until_ = Clock::now() + std::chrono::milliseconds(in_.slow_down().retry_after_ms());
      }
    }
    StartRead(&in_);
  }

  void OnDone(const grpc::Status& s) override {
    {
      std::lock_guard lk(mu_);
      status_ = s;
      state_ = State::kClosed;
      st_.unwritten += queue_.size();
      queue_.clear();
    }
    finished_.store(true);
    fleet_.bump(&Fleet::done);
  }

 private:
  enum class State { kConnecting, kOpen, kClosing, kClosed };
  struct Inflight {
    std::uint64_t last_seq, records;
    Clock::time_point at;
  };

  // Drops the hold once the stream is over (or being closed) and no thread outside a reaction
  // is inside a Start* call; then OnDone may run.
  void release_hold_if_wanted(std::unique_lock<std::mutex>& lk) {
    if (!release_wanted_ || !hold_ || external_ops_ > 0) return;
    hold_ = false;
    lk.unlock();
    RemoveHold();
    lk.lock();
  }

  const Options& o_;
  const std::string id_, topic_;
  const std::string& payload_;
  Fleet& fleet_;
  grpc::ClientContext ctx_;
  v1::AgentMessage hello_, current_;
  v1::HubMessage in_;

  std::mutex mu_;
  State state_ = State::kConnecting;
  bool write_busy_ = false, writes_done_ = false, read_failed_ = false;
  bool hold_ = true, release_wanted_ = false;
  int external_ops_ = 0;
  int max_batch_records_ = 1 << 30;
  std::uint64_t next_seq_ = 1, batch_id_ = 0;
  std::deque<v1::AgentMessage> queue_;  // batches waiting behind the write in progress
  std::deque<Inflight> unacked_;
  Clock::time_point pause_until_{};
  AgentStats st_;
  grpc::Status status_;
  std::atomic<bool> welcomed_{false}, finished_{false};
};

std::unordered_map<std::string, std::string> read_tokens(const std::string& path) {
  std::unordered_map<std::string, std::string> t;
  if (path.empty()) return t;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read --token-file " + path);
  std::string id, tok;
  while (in >> id >> tok) t[id] = tok;
  return t;
}

std::uint64_t raise_nofile() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return 0;
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  getrlimit(RLIMIT_NOFILE, &r);
  return r.rlim_cur;
}

double percentile(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(std::llround(p * static_cast<double>(v.size() - 1)));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) try {
  Options o;
  CLI::App app{"edgesync fleet simulator: many agents' streams against one hub (issue #10)"};
  app.add_option("--hub", o.hub, "Hub gRPC address host:port");
  app.add_option("--agents", o.agents, "Agents (one stream each) in this process")
      ->check(CLI::PositiveNumber);
  app.add_option("--duration", o.duration_s, "Measured seconds (after the streams are open)");
  app.add_option("--records", o.records, "Records per batch")->check(CLI::PositiveNumber);
  app.add_option("--bytes", o.bytes, "Payload bytes per record");
  app.add_option("--rate", o.rate, "Batches per second per agent")->check(CLI::PositiveNumber);
  app.add_option("--window", o.window, "Unacked batches an agent keeps at most")
      ->check(CLI::PositiveNumber);
  app.add_option("--streams-per-connection", o.streams_per_connection,
                 "Streams sharing one TCP connection (channel)")
      ->check(CLI::PositiveNumber);
  app.add_option("--run", o.run, "Run id: agent ids are fleet-<run>-<i>");
  app.add_option("--first-agent", o.first_agent, "Index of this process's first agent");
  app.add_option("--fleet-size", o.fleet_size, "Agents of the whole fleet (for the stagger)");
  app.add_option("--topic-prefix", o.topic_prefix, "MQTT topic of records: <prefix>/<agent>/data");
  app.add_option("--token-file", o.token_file, "File of 'agent-id token' lines (Bearer tokens)");
  app.add_option("--connect-rate", o.connect_rate, "Streams opened per second (0 = all at once)");
  app.add_option("--connect-timeout", o.connect_timeout_s,
                 "Seconds to wait for the welcomes before the measured run starts anyway");
  app.add_option("--drain", o.drain_s, "Seconds to wait for outstanding acks at the end");
  CLI11_PARSE(app, argc, argv);
  if (o.fleet_size < o.first_agent + o.agents) o.fleet_size = o.first_agent + o.agents;

  const std::uint64_t nofile = raise_nofile();
  const auto tokens = read_tokens(o.token_file);
  std::string payload(o.bytes, 'x');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);

  // Channels: distinct args and a local subchannel pool, so each is its own TCP connection.
  const int n_channels = (o.agents + o.streams_per_connection - 1) / o.streams_per_connection;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::Sync::Stub>> stubs;
  for (int c = 0; c < n_channels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("edgesync.fleet.channel", o.first_agent + c);
    channels.push_back(grpc::CreateCustomChannel(o.hub, grpc::InsecureChannelCredentials(), args));
    stubs.push_back(v1::Sync::NewStub(channels.back()));
  }

  Fleet fleet;
  std::vector<std::unique_ptr<Agent>> agents;
  agents.reserve(static_cast<std::size_t>(o.agents));
  const auto t_connect = Clock::now();
  for (int i = 0; i < o.agents; ++i) {
    const std::string id = "fleet-" + o.run + "-" + std::to_string(o.first_agent + i);
    agents.push_back(
        std::make_unique<Agent>(o, id, o.topic_prefix + "/" + id + "/data", payload, fleet));
    const auto it = tokens.find(id);
    agents.back()->start(stubs[static_cast<std::size_t>(i / o.streams_per_connection)].get(),
                         it == tokens.end() ? std::string() : it->second);
    if (o.connect_rate > 0) {
      std::this_thread::sleep_until(t_connect +
                                    std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>((i + 1) / o.connect_rate)));
    }
  }
  {
    std::unique_lock lk(fleet.mu);
    fleet.cv.wait_until(lk,
                        t_connect + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o.connect_timeout_s)),
                        [&] { return fleet.welcomed + fleet.done >= o.agents; });
  }
  const double connect_s = std::chrono::duration<double>(Clock::now() - t_connect).count();
  int welcomed_at_start = 0;
  {
    std::lock_guard lk(fleet.mu);
    welcomed_at_start = fleet.welcomed;
  }

  // Ticker: the period is cut into (at most) 100 slots; agent i is due in slot
  // (i * slots / fleet) of every period, so the fleet's batches are spread evenly from the first
  // period on (10 ms slots at 1 batch/s: a wake-up per slot, not per agent).
  const double period_ms = 1000.0 / o.rate;
  const int slots =
      std::clamp(std::min(100, o.fleet_size), 1, std::max(1, static_cast<int>(period_ms)));
  const auto slot_len = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, std::milli>(period_ms / slots));
  std::vector<std::vector<Agent*>> due(static_cast<std::size_t>(slots));
  for (int i = 0; i < o.agents; ++i) {
    const auto s = static_cast<std::size_t>(static_cast<std::int64_t>(o.first_agent + i) * slots /
                                            o.fleet_size);
    due[s].push_back(agents[static_cast<std::size_t>(i)].get());
  }
  const std::int64_t measure_start_ms = unix_ms();
  const auto t0 = Clock::now();
  // Whole slots of the run (slot_len is rounded to ns: counting them avoids one slot too many).
  const auto n_slots = std::llround(o.duration_s * 1000.0 / period_ms * slots);
  for (std::int64_t k = 0; k < n_slots; ++k) {
    const auto at = t0 + k * slot_len;
    const auto& now_due = due[static_cast<std::size_t>(k % slots)];
    if (now_due.empty()) continue;
    std::this_thread::sleep_until(at);
    for (Agent* a : now_due) a->tick();
  }
  const std::int64_t measure_end_ms = unix_ms();

  // Drain: wait for the acks of what was sent, then half-close every stream.
  const auto drain_end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(o.drain_s));
  for (;;) {
    std::size_t waiting = 0;
    for (auto& a : agents) {
      if (!a->finished()) waiting += a->unacked();
    }
    if (waiting == 0 || Clock::now() >= drain_end) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& a : agents) a->close();
  {
    std::unique_lock lk(fleet.mu);
    if (!fleet.cv.wait_for(lk, std::chrono::seconds(15), [&] { return fleet.done >= o.agents; })) {
      lk.unlock();
      for (auto& a : agents) {
        if (!a->finished()) a->cancel();
      }
      lk.lock();
      fleet.cv.wait(lk, [&] { return fleet.done >= o.agents; });
    }
  }

  AgentStats total;
  std::map<std::string, int> errors;
  std::map<std::uint32_t, std::uint64_t> hist_ms;
  int welcomed = 0;
  for (auto& a : agents) {
    auto& s = a->stats();
    total.offered += s.offered;
    total.sent += s.sent;
    total.records_sent += s.records_sent;
    total.acked += s.acked;
    total.records_acked += s.records_acked;
    total.not_sent_window += s.not_sent_window;
    total.not_sent_slowdown += s.not_sent_slowdown;
    total.not_sent_closed += s.not_sent_closed;
    total.write_failed += s.write_failed;
    total.unwritten += s.unwritten;
    total.slowdowns += s.slowdowns;
    total.acks += s.acks;
    for (auto us : s.ack_us) {
      total.ack_us.push_back(us);
      ++hist_ms[us / 1000];
    }
    if (a->welcomed()) ++welcomed;
    // OK = closed by us after the drain; anything else ended the stream early.
    if (!a->status().ok()) ++errors[code_name(a->status().error_code())];
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                       static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  const std::uint64_t not_sent =
      total.not_sent_window + total.not_sent_slowdown + total.not_sent_closed;
  const auto per_batch = static_cast<std::uint64_t>(o.records);
  nlohmann::json j;
  j["agents"] = o.agents;
  j["first_agent"] = o.first_agent;
  j["connections"] = n_channels;
  j["streams_welcomed"] = welcomed;
  j["welcomed_before_start"] = welcomed_at_start;
  j["connect_s"] = connect_s;
  j["duration_s"] = o.duration_s;
  j["measure_start_ms"] = measure_start_ms;
  j["measure_end_ms"] = measure_end_ms;
  j["batches_offered"] = total.offered;
  j["records_offered"] = total.offered * per_batch;
  j["batches_sent"] = total.sent;
  j["records_sent"] = total.records_sent;
  j["batches_not_sent"] = not_sent;
  j["records_not_sent"] = not_sent * per_batch;
  j["not_sent_window"] = total.not_sent_window;
  j["not_sent_slowdown"] = total.not_sent_slowdown;
  j["not_sent_closed"] = total.not_sent_closed;
  j["batches_write_failed"] = total.write_failed;
  j["batches_unwritten"] = total.unwritten;  // queued behind a write when the stream ended
  j["batches_acked"] = total.acked;
  j["records_acked"] = total.records_acked;
  j["acks"] = total.acks;
  j["slowdowns"] = total.slowdowns;
  j["ack_ms_p50"] = percentile(total.ack_us, 0.50);
  j["ack_ms_p99"] = percentile(total.ack_us, 0.99);
  j["ack_ms_max"] = total.ack_us.empty()
                        ? 0.0
                        : *std::max_element(total.ack_us.begin(), total.ack_us.end()) / 1000.0;
  nlohmann::json h = nlohmann::json::object();
  for (const auto& [ms, n] : hist_ms) h[std::to_string(ms)] = n;
  j["ack_ms_hist"] = h;
  j["stream_errors"] = errors;
  j["cpu_s"] = cpu_s;
  j["max_rss_kib"] = ru.ru_maxrss;
  j["nofile"] = nofile;
  std::cout << j.dump() << std::endl;
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench-fleet-sim: " << e.what() << "\n";
  return 1;
}
