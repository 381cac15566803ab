#!/usr/bin/env bash
# P8 (issue #11, priority lanes): an alert after an outage. With the hub down the agent buffers
# LANES_BACKLOG telemetry records (sensor-sim, 200 B); the hub comes up and one alert is published
# at that moment (mosquitto_pub). Measured from the Kafka timestamps (the broker's append time):
# the alert's latency from its publish, and the backlog drain (hub up -> last telemetry record),
# for an agent with an `alerts/#` lane and for the same agent without lanes (the ceiling: the
# alert queues behind the backlog), and with the lane once more with the alert published after
# both lanes reconnected (mid-drain: the reconnect backoff, uplink.backoff_max_ms 1000 here, is
# out of the figure). Alerts are routed to their own Kafka topic.
#   bench/lanes.sh                    both rows, 200,000 records of backlog
#   LANES_BACKLOG=50000 bench/lanes.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${LANES_BACKLOG:-200000}"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/measure.sh
source "$ROOT/bench/measure.sh"
# The broker stamps LogAppendTime: a record's Kafka timestamp is when it was stored (the producer's
# CreateTime would be the agent's MQTT receive time).
EDGESYNC_KAFKA_EXTRA_PROPERTIES="log.message.timestamp.type=LogAppendTime" stack_kafka
ms_now() { date +%s%3N; }
# Largest Kafka timestamp (ms) in a topic, and the timestamp of its first record.
last_ts() { kcat -C -b "$BOOT" -t "$1" -o beginning -e -q -f '%T\n' 2>/dev/null | sort -n | tail -1; }
first_ts() { kcat -C -b "$BOOT" -t "$1" -o beginning -c 1 -e -q -f '%T\n' 2>/dev/null; }

echo "| agent | backlog records | alert latency (ms) | backlog drain (ms) | alert / drain | backlog records after the alert |"
echo "|---|---|---|---|---|---|"
for mode in lanes mid none; do
  tag="p8-$mode-$RANDOM"
  lanes=""
  [[ $mode != none ]] && lanes='lanes: [ { name: alerts, topics: ["alerts/#"], priority: 0 } ]'
  stack_hub_config "$tag-hub" kafka="default_topic: $tag-t, routes: [ { filter: \"alerts/#\", topic: $tag-a } ]"
  stack_agent "$tag" mqtt='clean_session: true, topics: ["sensors/#", "alerts/#"]' \
    uplink='backoff_max_ms: 1000' extra="$lanes"
  AG=$AG_PID; AM=$AG_METRICS
  "$BIN/sensor-sim" --uri "tcp://127.0.0.1:$MQ" --devices 20 --count $((N / 20)) --size 200 --quiet
  wait_metric "$AM" edgesync_agent_records_committed_total "$N" 300
  stack_run "$tag-hub" "$BIN/cloud-hub" run --config "$RUN/$tag-hub.yaml"; HUB=$PID
  stack_wait_http "$HUB_METRICS" /readyz 60 || { tail "$RUN/$tag-hub.log" >&2; exit 1; }
  up=$(ms_now)
  if [[ $mode == mid ]]; then  # both lanes connected, the drain under way: the alert mid-drain
    for _ in $(seq 200); do
      [[ "$(metric "$AM" 'edgesync_agent_lane_hub_connected{lane="alerts"}')$(metric "$AM" edgesync_agent_hub_connected)" == 11 ]] && break
      sleep 0.05
    done
  fi
  pub=$(ms_now)
  mosquitto_pub -p "$MQ" -q 1 -t alerts/dev-a/fire -m '{"alarm":"smoke"}'
  wait_metric "$AM" edgesync_agent_mqtt_messages_received_total $((N + 1)) 60
  # Everything acked (both lanes): the default lane's counter, plus the alert where it went.
  for _ in $(seq 600); do
    [[ "$(metric "$AM" edgesync_agent_buffer_records)" == 0 &&
       "$(metric "$AM" 'edgesync_agent_lane_records{lane="alerts"}')" != 1 ]] && break
    sleep 0.5
  done
  alert=$(first_ts "$tag-a"); last=$(last_ts "$tag-t")
  after=$(kcat -C -b "$BOOT" -t "$tag-t" -o beginning -e -q -f '%T\n' 2>/dev/null | awk -v a="$alert" '$1 > a' | wc -l)
  stack_stop "$AG" "$HUB"
  lat=$((alert - pub)); drain=$((last - up))
  case $mode in
    lanes) what='alerts lane (priority 0), alert published as the hub comes up' ;;
    mid) what='alerts lane, alert published once both lanes are connected (mid-drain)' ;;
    none) what='no lanes (ceiling: the alert queues behind the backlog)' ;;
  esac
  echo "| $what | $N | $lat | $drain | $(awk -v a="$lat" -v d="$drain" 'BEGIN{printf "%.3f", a/d}') | $after |"
done
