#include "raw_client.hpp"

#include <chrono>
#include <stdexcept>

namespace edgesync::test {

RawStream::RawStream(std::shared_ptr<grpc::Channel> channel,
                     const std::vector<std::pair<std::string, std::string>>& metadata) {
  for (const auto& [k, v] : metadata) ctx_.AddMetadata(k, v);
  grpc::GenericStub stub(std::move(channel));
  call_ = stub.PrepareCall(&ctx_, "/edgesync.v1.Sync/Stream", &cq_);
  call_->StartCall(reinterpret_cast<void*>(1));
  broken_ = !step(reinterpret_cast<void*>(1));
}

RawStream::~RawStream() {
  if (!finished_) {
    ctx_.TryCancel();
    try {
      finish();
    } catch (const std::exception&) {  // no answer in 30 s: the queue is drained below anyway
    }
  }
  cq_.Shutdown();
  void* tag;
  bool ok;
  while (cq_.Next(&tag, &ok)) {
  }
}

std::shared_ptr<grpc::Channel> RawStream::channel(const std::string& address) {
  grpc::ChannelArguments a;
  a.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), a);
}

bool RawStream::step(void* want) {
  void* tag = nullptr;
  bool ok = false;
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(30);
  switch (cq_.AsyncNext(&tag, &ok, deadline)) {
    case grpc::CompletionQueue::GOT_EVENT:
      if (tag != want) throw std::logic_error("RawStream: unexpected completion");
      return ok;
    default:
      throw std::runtime_error("RawStream: no answer from the hub within 30 s");
  }
}

bool RawStream::write_bytes(const std::string& bytes) {
  if (broken_) return false;
  grpc::Slice slice(bytes);
  grpc::ByteBuffer buf(&slice, 1);
  call_->Write(buf, reinterpret_cast<void*>(2));
  if (!step(reinterpret_cast<void*>(2))) broken_ = true;
  return !broken_;
}

std::optional<v1::HubMessage> RawStream::read() {
  if (broken_) return std::nullopt;
  grpc::ByteBuffer buf;
  call_->Read(&buf, reinterpret_cast<void*>(3));
  if (!step(reinterpret_cast<void*>(3))) {
    broken_ = true;
    return std::nullopt;
  }
  std::vector<grpc::Slice> slices;
  buf.Dump(&slices);
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  v1::HubMessage m;
  if (!m.ParseFromString(bytes)) throw std::runtime_error("RawStream: hub sent a bad message");
  return m;
}

grpc::Status RawStream::finish() {
  if (finished_) return status_;
  if (!writes_done_ && !broken_) {
    writes_done_ = true;
    call_->WritesDone(reinterpret_cast<void*>(4));
    step(reinterpret_cast<void*>(4));
  }
  call_->Finish(&status_, reinterpret_cast<void*>(5));
  step(reinterpret_cast<void*>(5));
  finished_ = true;
  return status_;
}

v1::AgentMessage hello(const std::string& agent, std::uint64_t next_seq, std::uint64_t epoch,
                       const std::string& buffer_id, std::uint64_t first_unacked) {
  v1::AgentMessage m;
  auto* h = m.mutable_hello();
  h->set_agent_id(agent);
  h->set_epoch(epoch);
  h->set_next_seq(next_seq);
  h->set_first_unacked_seq(first_unacked);
  h->set_buffer_id(buffer_id);
  h->set_agent_version("raw-test");
  h->add_features(v1::FEATURE_REJECT);
  return m;
}

v1::AgentMessage batch(std::uint64_t batch_id, const std::vector<std::uint64_t>& seqs,
                       std::size_t payload_bytes, const std::string& topic) {
  v1::AgentMessage m;
  auto* b = m.mutable_batch();
  b->set_batch_id(batch_id);
  for (auto s : seqs) {
    auto* r = b->add_records();
    r->set_seq(s);
    r->set_device_id("d1");
    r->set_mqtt_topic(topic);
    r->set_payload(std::string(payload_bytes, 'x'));
    r->set_received_unix_ns(1);
  }
  return m;
}

std::vector<std::uint64_t> seq_range(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t s = from; s <= to; ++s) v.push_back(s);
  return v;
}

bool acked(RawStream& s, std::uint64_t seq, v1::Ack* last, std::vector<std::uint64_t>* rejected) {
  while (auto m = s.read()) {
    if (!m->has_ack()) continue;
    if (last) *last = m->ack();
    if (rejected) {
      for (const auto& r : m->ack().rejected()) rejected->push_back(r.seq());
    }
    if (m->ack().acked_through() >= seq) return true;
  }
  return false;
}

}  // namespace edgesync::test
