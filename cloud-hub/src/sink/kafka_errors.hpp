// librdkafka error codes by how the hub handles them: one list, used for produce() results and
// delivery reports alike (docs/cloud-hub.md, "Dead letters", prints the same list).
#pragma once

#include <librdkafka/rdkafka.h>

#include "sink.hpp"

namespace edgesync::hub {

// Permanent: retrying the same record cannot succeed (too large, invalid, not authorized,
// invalid topic). Everything else (timeouts, broker or leader unavailable, purges at shutdown,
// unknown topic while it is being created) is retriable.
ErrorClass classify_kafka_error(rd_kafka_resp_err_t err);

}  // namespace edgesync::hub
