// Parts of the buffer and the uplink that have one home each (issue #13): the record cost in C++
// and in SQL agree, every drop reason has a name and a meta key, and the uplink's ack path never
// acks past a refused record whose move to the dead-letter table failed (through the narrow
// BufferReader seam, with a fake buffer).
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "buffer/drop_reason.hpp"
#include "buffer/record_cost.hpp"
#include "buffer/sqlite.hpp"
#include "uplink/ack_path.hpp"

using namespace edgesync::agent;

TEST_CASE("record_cost_sql computes record_cost for a stored row") {
  sqlite::Db db(":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  db.exec(
      "CREATE TABLE records(seq INTEGER PRIMARY KEY, device_id TEXT, topic TEXT, payload BLOB);"
      "INSERT INTO records VALUES (1, 'dev-7', 'sensors/dev-7/t', x'00010203040506')");
  sqlite::Stmt st(db, "SELECT " + record_cost_sql() + " FROM records");
  REQUIRE(st.step() == SQLITE_ROW);
  CHECK(static_cast<std::uint64_t>(st.int64(0)) ==
        record_cost(7, std::string("sensors/dev-7/t").size(), std::string("dev-7").size()));
  CHECK(record_cost(0, 0, 0) == kRecordOverheadBytes);
}

TEST_CASE("every drop reason has its own name and meta key, and purge is none of them") {
  std::set<std::string> names, keys;
  for (const DropReason r : kAllDropReasons) {
    names.insert(drop_reason_name(r));
    keys.insert(drop_meta_key(r));
    CHECK(drop_index(r) < kDropReasons);
  }
  CHECK(names.size() == kDropReasons);
  CHECK(keys.size() == kDropReasons);
  CHECK(names.count(kPurgeDropName) == 0);
  CHECK(drop_meta_key(DropReason::kDiskFull) == "dropped_disk_full");
  CHECK(drop_meta_key(kPurgeDropName) == "dropped_purge");
}

namespace {

// The uplink's side of a buffer, recording acks and dead letters; moves fail while fail_moves.
class FakeReader : public BufferReader {
 public:
  std::vector<StoredRecord> read_after(std::uint64_t, std::size_t, std::size_t) override {
    return {};
  }
  void ack_through(std::uint64_t through) override { acked = through; }
  bool wait_for_records(std::uint64_t, std::chrono::milliseconds) override { return false; }
  std::uint64_t first_unacked_seq() override { return 1; }
  std::uint64_t next_seq() override { return 100; }
  std::uint64_t next_epoch() override { return 1; }
  std::string buffer_id() override { return std::string(32, 'a'); }
  bool dead_letter(std::uint64_t seq, std::string_view) override {
    if (fail_moves) return false;
    moved.insert(seq);
    return true;
  }
  bool fail_moves = false;
  std::uint64_t acked = 0;
  std::set<std::uint64_t> moved;
};

}  // namespace

TEST_CASE("the ack path acks below a refused record until its move succeeds") {
  FakeReader buffer;
  UplinkCounters counters;
  AckPath acks(buffer, counters);
  CHECK(acks.apply(10) == 10);  // nothing refused: the whole ack
  CHECK(buffer.acked == 10);

  acks.refused(15, "too large");
  buffer.fail_moves = true;  // disk full: the record must stay stored
  CHECK(acks.apply(20) == 14);
  CHECK(buffer.acked == 14);
  CHECK(counters.acked_through == 14);
  CHECK(counters.dead_lettered == 0);

  buffer.fail_moves = false;  // the next ack retries the move, then acks all of it
  CHECK(acks.apply(25) == 25);
  CHECK(buffer.moved == std::set<std::uint64_t>{15});
  CHECK(counters.dead_lettered == 1);
}
