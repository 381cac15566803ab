// Row -> StoredRecord: the one decoding that the buffer's reader (uplink side) and the read-only
// reader of the field CLI share. Select kRecordColumns (records or dead_letter table) or
// kDeadLetterColumns (dead_letter table, with the reason) in this order.
#pragma once

#include "buffer/sqlite.hpp"
#include "record.hpp"

namespace edgesync::agent {

inline constexpr const char* kRecordColumns = "seq, device_id, topic, payload, received_ns, qos";
inline constexpr const char* kDeadLetterColumns =
    "seq, device_id, topic, payload, received_ns, qos, reason, dead_lettered_ns";

inline StoredRecord record_from_row(const sqlite::Stmt& st, bool dead_letter = false) {
  StoredRecord r;
  r.seq = static_cast<std::uint64_t>(st.int64(0));
  r.device_id = st.text(1);
  r.topic = st.text(2);
  r.payload = st.blob(3);
  r.received_unix_ns = st.int64(4);
  r.qos = static_cast<int>(st.int64(5));
  if (dead_letter) {
    r.dead_letter_reason = st.text(6);
    r.dead_lettered_unix_ns = st.int64(7);
  }
  return r;
}

}  // namespace edgesync::agent
