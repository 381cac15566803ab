// librdkafka transaction errors by what the transactional sink does about them (one table, printed
// in docs/cloud-hub.md, "Exactly-once"):
//   retriable  the call may be repeated as it is (a commit that timed out keeps going in the
//              background; calling commit again resumes it, never abort then)
//   abortable  the transaction is lost: abort it, report its records retriable (the agents resend;
//              the watermark did not move, so nothing becomes visible twice)
//   fenced     a newer producer with this transactional.id exists (another replica took over):
//              this replica must stop writing at once
//   fatal      the producer is unusable (fenced included): stop taking records, fail /readyz and
//              exit for the orchestrator to restart the replica
#pragma once

#include <librdkafka/rdkafka.h>

#include <string>

namespace edgesync::hub {

enum class TxnErrorClass { kRetriable, kAbortable, kFenced, kFatal };

// Classifies an error object returned by a transactional call (never null).
TxnErrorClass classify_txn_error(const rd_kafka_error_t* error);
// Short fixed word for logs and metrics: "retriable", "abortable", "fenced", "fatal".
const char* txn_error_class_name(TxnErrorClass c);
// "<call>: <ERROR_NAME> (<text>) [<class>]" for logs (librdkafka's text holds no secrets).
std::string describe_txn_error(const char* call, const rd_kafka_error_t* error);

// Owns the rd_kafka_error_t a transactional call returned (null: success).
struct TxnError {
  rd_kafka_error_t* e;
  explicit TxnError(rd_kafka_error_t* err) : e(err) {}
  ~TxnError() {
    if (e) rd_kafka_error_destroy(e);
  }
  TxnError(const TxnError&) = delete;
  TxnError& operator=(const TxnError&) = delete;
  explicit operator bool() const { return e != nullptr; }
};

}  // namespace edgesync::hub
