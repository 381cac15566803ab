// Row -> StoredRecord for `SELECT seq, device_id, topic, payload, received_ns, qos ...` (the first
// six columns of the records and dead_letter tables): the one decoding that the buffer's reader
// and the field CLI share.
#pragma once

#include "buffer/sqlite.hpp"
#include "record.hpp"

namespace edgesync::agent {

inline StoredRecord record_from_row(const sqlite::Stmt& st) {
  StoredRecord r;
  r.seq = static_cast<std::uint64_t>(st.int64(0));
  r.device_id = st.text(1);
  r.topic = st.text(2);
  r.payload = st.blob(3);
  r.received_unix_ns = st.int64(4);
  r.qos = static_cast<int>(st.int64(5));
  return r;
}

}  // namespace edgesync::agent
