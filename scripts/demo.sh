#!/usr/bin/env bash
# The main job, end to end on this machine: installs what is missing, builds, starts Mosquitto,
# a real single-node Apache Kafka (KRaft), the cloud hub, one edge agent and the sensor
# simulator on loopback ports, shows records arriving in Kafka, then stops everything it started.
#   DEMO_SECONDS=20 DEMO_RATE=2000 DEMO_DEVICES=10 scripts/demo.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_TO_RUN="${DEMO_SECONDS:-20}"
RATE="${DEMO_RATE:-2000}"
DEVICES="${DEMO_DEVICES:-10}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1/6 installing Debian packages (if missing)"
"$ROOT/scripts/install-deps.sh"
say "2/6 fetching Apache Kafka broker jars (cached after the first run)"
"$ROOT/scripts/kafka.sh" fetch
say "3/6 building"
BUILD_DIR="$BUILD_DIR" "$ROOT/scripts/build.sh" >/dev/null
BIN="$BUILD_DIR/bin"

RUN="$BUILD_DIR/demo"
rm -rf "$RUN"
# The stack harness (scripts/stack.sh) starts and stops everything; the demo keeps its logs.
STACK_DIR="$RUN" STACK_KEEP=1 STACK_LOG_LEVEL=info
# shellcheck source=scripts/stack.sh
. "$ROOT/scripts/stack.sh"

say "4/6 starting Mosquitto, Kafka, cloud-hub and edge-agent (logs in $RUN)"
stack_mosquitto
stack_kafka
stack_hub hub kafka='default_topic: telemetry, routes: [ { filter: "alerts/#", topic: alerts } ]'
stack_agent demo-gateway mqtt='topics: ["sensors/#"]' \
  extra='lanes: [ { name: alerts, topics: ["alerts/#"], priority: 0 } ]'
echo "mosquitto :$MQ  kafka $BOOT  hub :$HUB_PORT  agent 'demo-gateway' (alerts lane for alerts/#)"
MQTT_PORT=$MQ; BOOTSTRAP=$BOOT

TOTAL=$((RATE * SECONDS_TO_RUN))
say "5/6 sensor-sim: $DEVICES devices, $RATE msg/s for ${SECONDS_TO_RUN}s ($TOTAL messages, QoS 1)"
"$BIN/sensor-sim" --uri "tcp://127.0.0.1:$MQTT_PORT" --devices "$DEVICES" \
  --count $((TOTAL / DEVICES)) --rate "$RATE" --size 160 > "$RUN/sim.json" & SIM=$!
sleep $((SECONDS_TO_RUN / 2))
# An alarm in the middle: it travels in the agent's alerts lane, ahead of any telemetry backlog.
mosquitto_pub -p "$MQTT_PORT" -q 1 -t alerts/dev-0003/overheat -m '{"alarm":"overheat","t_c":91.5}'
wait $SIM
cat "$RUN/sim.json"
PUBLISHED=$(sed -n 's/.*"acked":\([0-9]*\).*/\1/p' "$RUN/sim.json")

say "6/6 records in Kafka topic 'telemetry'"
count=0
for i in $(seq 1 60); do
  count=$(kcat -b "$BOOTSTRAP" -C -t telemetry -e -q -f '.\n' 2>/dev/null | wc -l)
  echo "  after ${i}s: $count / $PUBLISHED in Kafka"
  [[ "$count" -ge "$PUBLISHED" ]] && break
  sleep 1
done
echo
echo "three sample records (key | headers | value):"
kcat -b "$BOOTSTRAP" -C -t telemetry -o -3 -e -q -p 0 -f '  %k | %h | %s\n' 2>/dev/null | cut -c1-220
echo
alert=""
for _ in $(seq 1 30); do
  alert=$(kcat -b "$BOOTSTRAP" -C -t alerts -e -q -f '%s' 2>/dev/null || true)
  [[ -n "$alert" ]] && break
  sleep 0.5
done
echo "the alert in Kafka topic 'alerts': ${alert:-(not there)}"
echo
"$BIN/edge-agent" buffer status --db "$RUN/demo-gateway.db" | sed 's/^/  buffer: /'
echo
if [[ "$count" -ge "$PUBLISHED" && -n "$alert" ]]; then
  echo "DEMO OK: $PUBLISHED messages published, $count records in Kafka, and the alert."
else
  echo "DEMO INCOMPLETE: $PUBLISHED published, $count in Kafka, alert: ${alert:-missing}; see $RUN/*.log" >&2
  exit 1
fi
