#include "kafka_errors.hpp"

namespace edgesync::hub {

ErrorClass classify_kafka_error(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:     // broker or local: larger than the limit
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:  // batch over the segment size
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:         // broker validation (e.g. compacted, no key)
    case RD_KAFKA_RESP_ERR_INVALID_MSG:            // corrupt or invalid message
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:      // outside message.timestamp.difference
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:        // invalid topic name
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return ErrorClass::kPermanent;
    default:
      // Including _UNKNOWN_TOPIC: a missing topic is an operator's fix (or Strimzi creating it);
      // the records wait in the agents' buffers meanwhile rather than going to dead letters.
      return ErrorClass::kRetriable;
  }
}

}  // namespace edgesync::hub
