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
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  "$ROOT/scripts/kafka.sh" stop "$RUN/kafka" || true
}
trap cleanup EXIT
rm -rf "$RUN"; mkdir -p "$RUN"
. "$ROOT/scripts/lib.sh"  # free_port
MQTT_PORT="$(free_port)"; HUB_PORT="$(free_port)"
while [[ "$HUB_PORT" == "$MQTT_PORT" ]]; do HUB_PORT="$(free_port)"; done

say "4/6 starting Mosquitto, Kafka, cloud-hub and edge-agent (logs in $RUN)"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000000\nmax_inflight_messages 1000\n' \
  "$MQTT_PORT" > "$RUN/mosquitto.conf"
mosquitto -c "$RUN/mosquitto.conf" > "$RUN/mosquitto.log" 2>&1 & PIDS+=($!)
BOOTSTRAP="$("$ROOT/scripts/kafka.sh" start "$RUN/kafka")"
cat > "$RUN/hub.yaml" <<YAML
hub:
  listen: 127.0.0.1:$HUB_PORT
  id: demo-hub
kafka:
  bootstrap_servers: $BOOTSTRAP
  default_topic: telemetry
  routes:
    - { filter: "alerts/#", topic: alerts }
YAML
cat > "$RUN/agent.yaml" <<YAML
agent:
  id: demo-gateway
mqtt:
  uri: tcp://127.0.0.1:$MQTT_PORT
  topics: ["sensors/#", "alerts/#"]
buffer:
  path: $RUN/buffer.db
uplink:
  hub: 127.0.0.1:$HUB_PORT
YAML
"$BIN/cloud-hub" run --config "$RUN/hub.yaml" > "$RUN/hub.log" 2>&1 & PIDS+=($!)
"$BIN/edge-agent" run --config "$RUN/agent.yaml" > "$RUN/agent.log" 2>&1 & PIDS+=($!)
for _ in $(seq 1 100); do grep -q "subscribed to" "$RUN/agent.log" 2>/dev/null && break; sleep 0.1; done
echo "mosquitto :$MQTT_PORT  kafka $BOOTSTRAP  hub :$HUB_PORT  agent 'demo-gateway'"

TOTAL=$((RATE * SECONDS_TO_RUN))
say "5/6 sensor-sim: $DEVICES devices, $RATE msg/s for ${SECONDS_TO_RUN}s ($TOTAL messages, QoS 1)"
"$BIN/sensor-sim" --uri "tcp://127.0.0.1:$MQTT_PORT" --devices "$DEVICES" \
  --count $((TOTAL / DEVICES)) --rate "$RATE" --size 160 > "$RUN/sim.json"
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
"$BIN/edge-agent" buffer status --db "$RUN/buffer.db" | sed 's/^/  buffer: /'
echo
if [[ "$count" -ge "$PUBLISHED" ]]; then
  echo "DEMO OK: $PUBLISHED messages published, $count records in Kafka."
else
  echo "DEMO INCOMPLETE: $PUBLISHED published, only $count in Kafka; see $RUN/*.log" >&2
  exit 1
fi
