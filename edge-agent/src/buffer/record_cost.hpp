// What a record costs against buffer.max_bytes, in one place: the C++ function the writer uses
// for records it inserts, and the SQL expression (generated from the same constant) that the
// buffer's queries use for records already stored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace edgesync::agent {

// Row overhead per record (seq, received_ns, qos and SQLite's row header, roughly).
inline constexpr std::uint64_t kRecordOverheadBytes = 32;

// Bytes a record counts against buffer.max_bytes: payload, topic, device id and row overhead.
inline std::uint64_t record_cost(std::size_t payload, std::size_t topic, std::size_t device) {
  return payload + topic + device + kRecordOverheadBytes;
}

// record_cost() of a row of the records or dead_letter table, as an SQL expression.
inline const std::string& record_cost_sql() {
  static const std::string sql = "(length(payload) + length(topic) + length(device_id) + " +
                                 std::to_string(kRecordOverheadBytes) + ")";
  return sql;
}

}  // namespace edgesync::agent
