// exactly_once building blocks without a broker: the watermark record format (hostile values
// refused), the agent -> partition mapping, and the transaction error classes the codes decide.
#include <doctest/doctest.h>
#include <librdkafka/rdkafka.h>

#include <memory>
#include <set>

#include "sink/txn_errors.hpp"
#include "sink/watermark_store.hpp"

using namespace edgesync::hub;

namespace {

struct ErrorDeleter {
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
};
using Error = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;

Error error(rd_kafka_resp_err_t code) {
  return Error(rd_kafka_error_new(code, "%s", "test"));
}

}  // namespace

TEST_CASE("watermark values are plain decimal seqs and nothing else") {
  CHECK(parse_watermark_value("0") == 0u);
  CHECK(parse_watermark_value("42") == 42u);
  CHECK(parse_watermark_value("18446744073709551615") == UINT64_MAX);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "12a", "0x10", "1.5", "18446744073709551616",
                          "000000000000000000001"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_watermark_value(bad).has_value());
  }
}

TEST_CASE("watermark keys separate agent and buffer by a newline the ids cannot hold") {
  CHECK(watermark_key("gw-1", "abc") == "gw-1\nabc");
  CHECK(watermark_key("gw-1", "") == "gw-1\n");
  CHECK(watermark_key("gw", "1abc") != watermark_key("gw1", "abc"));
}

TEST_CASE("an agent's watermark partition is stable, in range and spreads agents") {
  std::set<std::int32_t> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string agent = "gw-" + std::to_string(i);
    const auto p = watermark_partition(agent, 12);
    CHECK(p >= 0);
    CHECK(p < 12);
    CHECK(watermark_partition(agent, 12) == p);
    seen.insert(p);
  }
  CHECK(seen.size() == 12);
  CHECK(watermark_partition("gw-1", 1) == 0);
  CHECK(watermark_partition("gw-1", 0) == 0);  // never a division by zero
}

TEST_CASE("transaction errors: fencing codes are fenced, an unflagged error is abortable") {
  for (const auto code : {RD_KAFKA_RESP_ERR__FENCED, RD_KAFKA_RESP_ERR_PRODUCER_FENCED,
                          RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH}) {
    CAPTURE(rd_kafka_err2name(code));
    CHECK(classify_txn_error(error(code).get()) == TxnErrorClass::kFenced);
  }
  // Neither retriable nor fatal nor abortable (e.g. _STATE): nothing of the transaction can be
  // trusted, and repeating the call would fail the same way.
  CHECK(classify_txn_error(error(RD_KAFKA_RESP_ERR__STATE).get()) == TxnErrorClass::kAbortable);
  const auto described =
      describe_txn_error("commit_transaction", error(RD_KAFKA_RESP_ERR__FENCED).get());
  CHECK(described.find("commit_transaction: _FENCED") == 0);
  CHECK(described.find("[fenced]") != std::string::npos);
  CHECK(std::string(txn_error_class_name(TxnErrorClass::kRetriable)) == "retriable");
}
