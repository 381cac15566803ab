#!/usr/bin/env bash
# P8 (issue #11, priority lanes): an alert after an outage. With the hub down the agent buffers
# LANES_BACKLOG telemetry records (sensor-sim, 200 B); the hub comes up and one alert is published
# at that moment (mosquitto_pub). Measured from the Kafka timestamps (the hub's produce time):
# the alert's latency from its publish, and the backlog drain (hub up -> last telemetry record),
# for an agent with an `alerts/#` lane and for the same agent without lanes (the ceiling: the
# alert queues behind the backlog). Alerts are routed to their own Kafka topic.
#   bench/lanes.sh                    both rows, 200,000 records of backlog
#   LANES_BACKLOG=50000 bench/lanes.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BUILD_DIR:-$ROOT/build}/bin"
N="${LANES_BACKLOG:-200000}"
"$ROOT/scripts/kafka.sh" fetch >/dev/null
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/measure.sh
source "$ROOT/bench/measure.sh"
trap 'kill $(jobs -p) 2>/dev/null; "$ROOT/scripts/kafka.sh" stop "$RUN/kafka" >/dev/null 2>&1; rm -rf "$RUN"' EXIT
BOOT="$("$ROOT/scripts/kafka.sh" start "$RUN/kafka" 2>/dev/null)"
ms_now() { date +%s%3N; }
# Largest Kafka timestamp (ms) in a topic, and the timestamp of its first record.
last_ts() { kcat -C -b "$BOOT" -t "$1" -o beginning -e -q -f '%T\n' 2>/dev/null | sort -n | tail -1; }
first_ts() { kcat -C -b "$BOOT" -t "$1" -o beginning -c 1 -e -q -f '%T\n' 2>/dev/null; }

echo "| agent | backlog records | alert latency (ms) | backlog drain (ms) | alert / drain | backlog records after the alert |"
echo "|---|---|---|---|---|---|"
for mode in lanes none; do
  tag="p8-$mode-$RANDOM"; HUB_PORT="$(port)"; HM="$(port)"; AM="$(port)"
  printf 'hub: { listen: "127.0.0.1:%s" }\nkafka: { bootstrap_servers: "%s", default_topic: %s-t, routes: [ { filter: "alerts/#", topic: %s-a } ] }\nmetrics: { listen: "127.0.0.1:%s" }\nlog: { level: warn }\n' \
    "$HUB_PORT" "$BOOT" "$tag" "$tag" "$HM" > "$RUN/hub.yaml"
  lanes=""
  [[ $mode == lanes ]] && lanes='lanes: [ { name: alerts, topics: ["alerts/#"], priority: 0 } ]'
  printf 'agent: { id: "%s" }\nmqtt: { uri: "tcp://127.0.0.1:%s", client_id: "%s", clean_session: true, topics: ["sensors/#", "alerts/#"] }\nbuffer: { path: "%s" }\nuplink: { hub: "127.0.0.1:%s", backoff_max_ms: 1000 }\nmetrics: { listen: "127.0.0.1:%s" }\nlog: { level: warn }\n%s\n' \
    "$tag" "$MQ" "$tag" "$RUN/$tag.db" "$HUB_PORT" "$AM" "$lanes" > "$RUN/agent.yaml"
  "$BIN/edge-agent" run --config "$RUN/agent.yaml" > "$RUN/agent.log" 2>&1 & AG=$!
  wait_http "$AM" /healthz 30
  for _ in $(seq 100); do [[ "$(metric "$AM" edgesync_agent_mqtt_connected)" == 1 ]] && break; sleep 0.1; done
  sleep 0.5
  "$BIN/sensor-sim" --uri "tcp://127.0.0.1:$MQ" --devices 20 --count $((N / 20)) --size 200 --quiet
  wait_metric "$AM" edgesync_agent_records_committed_total "$N" 300
  "$BIN/cloud-hub" run --config "$RUN/hub.yaml" > "$RUN/hub.log" 2>&1 & HUB=$!
  wait_http "$HM" /readyz 60 || { tail "$RUN/hub.log" >&2; exit 1; }
  up=$(ms_now)
  mosquitto_pub -p "$MQ" -q 1 -t alerts/dev-a/fire -m '{"alarm":"smoke"}'
  pub=$(ms_now)
  wait_metric "$AM" edgesync_agent_mqtt_messages_received_total $((N + 1)) 60
  # Everything acked (both lanes): the default lane's counter, plus the alert where it went.
  for _ in $(seq 600); do
    [[ "$(metric "$AM" edgesync_agent_buffer_records)" == 0 &&
       "$(metric "$AM" 'edgesync_agent_lane_records{lane="alerts"}')" != 1 ]] && break
    sleep 0.5
  done
  alert=$(first_ts "$tag-a"); last=$(last_ts "$tag-t")
  after=$(kcat -C -b "$BOOT" -t "$tag-t" -o beginning -e -q -f '%T\n' 2>/dev/null | awk -v a="$alert" '$1 > a' | wc -l)
  kill "$AG" "$HUB"; wait "$AG" "$HUB" 2>/dev/null || true
  lat=$((alert - pub)); drain=$((last - up))
  echo "| $([[ $mode == lanes ]] && echo 'alerts lane (priority 0)' || echo 'no lanes (ceiling)') | $N | $lat | $drain | $(awk -v a="$lat" -v d="$drain" 'BEGIN{printf "%.3f", a/d}') | $after |"
done
