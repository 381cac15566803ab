#include "group_owners.hpp"

namespace edgesync::hub {

std::optional<std::unordered_map<std::int32_t, std::string>> describe_partition_owners(
    rd_kafka_t* rk, const std::string& group, const std::string& topic,
    std::chrono::milliseconds timeout, std::string* why) {
  const int ms = static_cast<int>(timeout.count());
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* opts =
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
  char errstr[256] = {};
  (void)rd_kafka_AdminOptions_set_request_timeout(opts, ms, errstr, sizeof(errstr));
  const char* groups[] = {group.c_str()};
  rd_kafka_DescribeConsumerGroups(rk, groups, 1, opts, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, ms + 1000);
  std::optional<std::unordered_map<std::int32_t, std::string>> out;
  if (!ev) {
    *why = "no answer to DescribeConsumerGroups";
  } else if (rd_kafka_event_error(ev)) {
    *why = rd_kafka_event_error_string(ev);
  } else if (const auto* res = rd_kafka_event_DescribeConsumerGroups_result(ev); !res) {
    *why = "unexpected event";
  } else {
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t** descs =
        rd_kafka_DescribeConsumerGroups_result_groups(res, &n);
    if (n != 1) {
      *why = "no description of the group";
    } else if (const rd_kafka_error_t* e = rd_kafka_ConsumerGroupDescription_error(descs[0])) {
      *why = rd_kafka_error_string(e);
    } else if (const auto st = rd_kafka_ConsumerGroupDescription_state(descs[0]);
               st != RD_KAFKA_CONSUMER_GROUP_STATE_STABLE) {
      *why = std::string("group state ") + rd_kafka_consumer_group_state_name(st);
    } else {
      out.emplace();
      const size_t members = rd_kafka_ConsumerGroupDescription_member_count(descs[0]);
      for (size_t i = 0; i < members; ++i) {
        const auto* m = rd_kafka_ConsumerGroupDescription_member(descs[0], i);
        const char* client = rd_kafka_MemberDescription_client_id(m);
        const auto* a = rd_kafka_MemberDescription_assignment(m);
        const auto* parts = a ? rd_kafka_MemberAssignment_partitions(a) : nullptr;
        if (!client || !parts) continue;
        for (int j = 0; j < parts->cnt; ++j) {
          if (topic == parts->elems[j].topic) (*out)[parts->elems[j].partition] = client;
        }
      }
    }
  }
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_AdminOptions_destroy(opts);
  rd_kafka_queue_destroy(q);
  return out;
}

}  // namespace edgesync::hub
