#include "txn_errors.hpp"

namespace edgesync::hub {

TxnErrorClass classify_txn_error(const rd_kafka_error_t* error) {
  const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
  // Fencing first: librdkafka raises it as a fatal error, but it is the one fatal error that
  // means "another replica owns this transactional.id now", not "this process is broken".
  if (code == RD_KAFKA_RESP_ERR__FENCED || code == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
      code == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH) {
    return TxnErrorClass::kFenced;
  }
  if (rd_kafka_error_is_fatal(error)) return TxnErrorClass::kFatal;
  // Abortable wins over retriable when both flags are set: once the transaction needs an abort,
  // repeating the commit cannot succeed.
  if (rd_kafka_error_txn_requires_abort(error)) return TxnErrorClass::kAbortable;
  if (rd_kafka_error_is_retriable(error)) return TxnErrorClass::kRetriable;
  // Neither flag (e.g. _STATE after an earlier failure, _NOT_CONFIGURED): nothing in this
  // transaction can be trusted, and repeating the call would fail the same way.
  return TxnErrorClass::kAbortable;
}

const char* txn_error_class_name(TxnErrorClass c) {
  switch (c) {
    case TxnErrorClass::kRetriable:
      return "retriable";
    case TxnErrorClass::kAbortable:
      return "abortable";
    case TxnErrorClass::kFenced:
      return "fenced";
    case TxnErrorClass::kFatal:
      return "fatal";
  }
  return "fatal";
}

std::string describe_txn_error(const char* call, const rd_kafka_error_t* error) {
  return std::string(call) + ": " + rd_kafka_error_name(error) + " (" +
         rd_kafka_error_string(error) + ") [" + txn_error_class_name(classify_txn_error(error)) +
         "]";
}

}  // namespace edgesync::hub
