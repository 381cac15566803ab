# The stack harness of bench/ and the demo (source it after setting ROOT): real Mosquitto, a real
# Apache Kafka broker (scripts/kafka.sh), cloud-hub and edge-agents on free loopback ports, each
# config written here from the caller's fragments, every process stopped and the scratch
# directory removed on exit. The C++ tests assemble the same stack in tests/support/services.cpp
# (they need in-process control: kill -9 at a chosen moment, fault proxies, per-test brokers).
#
#   STACK                       scratch directory (STACK_KEEP=1 keeps it; STACK_DIR picks it)
#   BIN                         the binaries ($BUILD_DIR/bin)
#   stack_mosquitto             starts Mosquitto -> MQ (port), MQ_PID; wide in-flight window, deep queue
#   stack_kafka                 starts a one-node KRaft broker -> BOOT (bootstrap address);
#                               EDGESYNC_KAFKA_EXTRA_PROPERTIES passes broker properties
#   stack_hub_config NAME [port=N] [hub=FLOW] [kafka=FLOW] [extra=YAML]
#                               writes $STACK/NAME.yaml -> HUB_PORT, HUB_METRICS
#   stack_agent_config NAME [hub=HOST:PORT] [db=PATH] [metrics=PORT] [mqtt=FLOW] [buffer=FLOW]
#                      [uplink=FLOW] [extra=YAML]
#                               writes $STACK/NAME.yaml (agent and client id NAME, buffer db,
#                               default $STACK/NAME.db) -> AG_METRICS
#   stack_hub NAME [...]        config, start, wait for /readyz -> HUB_PID (and the above)
#   stack_agent NAME [...]      config, start, wait until subscribed -> AG_PID (and the above)
#   stack_run NAME CMD...       starts CMD in the background, output in $STACK/NAME.log -> PID
#   stack_stop PID...           SIGTERM, then waits
# FLOW is the inside of a YAML flow map ('default_topic: t, routes: [...]'), added to the section
# the harness writes; YAML is top-level lines (e.g. `lanes:`). log.level is STACK_LOG_LEVEL (warn).
# shellcheck shell=bash
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BIN="$BUILD_DIR/bin"
STACK="${STACK_DIR:-$(mktemp -d)}"
mkdir -p "$STACK"
STACK_PIDS=()
STACK_KAFKA=""

stack_cleanup() {
  local p
  # What the harness started, and any other background job of the caller.
  for p in "${STACK_PIDS[@]}" $(jobs -p); do kill "$p" 2>/dev/null || true; done
  for p in "${STACK_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n "$STACK_KAFKA" ]] && "$ROOT/scripts/kafka.sh" stop "$STACK_KAFKA" >/dev/null 2>&1
  [[ "${STACK_KEEP:-0}" == 1 ]] || rm -rf "$STACK"
  return 0
}
trap stack_cleanup EXIT

stack_run() {
  local name="$1"; shift
  "$@" > "$STACK/$name.log" 2>&1 &
  PID=$!
  STACK_PIDS+=("$PID")
}

stack_stop() {
  local p
  for p in "$@"; do kill "$p" 2>/dev/null || true; done
  for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

# stack_wait_http PORT PATH TIMEOUT_S
stack_wait_http() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    curl -sf "http://127.0.0.1:$1$2" > /dev/null && return 0
    sleep 0.1
  done
  return 1
}

stack_mosquitto() {
  MQ="$(free_port)"
  printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000000\nmax_inflight_messages 1000\n' \
    "$MQ" > "$STACK/mosquitto.conf"
  stack_run mosquitto mosquitto -c "$STACK/mosquitto.conf"
  MQ_PID=$PID
  local i
  for ((i = 0; i < 50; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$MQ") 2>/dev/null && return 0; sleep 0.1; done
  die "mosquitto did not start: $(tail -3 "$STACK/mosquitto.log")"
}

stack_kafka() {
  "$ROOT/scripts/kafka.sh" fetch >/dev/null
  STACK_KAFKA="$STACK/kafka"
  BOOT="$("$ROOT/scripts/kafka.sh" start "$STACK_KAFKA" 2>/dev/null | tail -1)"
}

# key=value arguments into the associative array named by $1.
stack_args() {
  local -n into="$1"; shift
  local a
  for a in "$@"; do into["${a%%=*}"]="${a#*=}"; done
}

stack_hub_config() {
  local name="$1"; shift
  local -A o=()
  stack_args o "$@"
  HUB_PORT="${o[port]:-$(free_port)}"
  HUB_METRICS="$(free_port)"
  cat > "$STACK/$name.yaml" <<YAML
hub: { listen: "127.0.0.1:$HUB_PORT", id: "$name"${o[hub]:+, ${o[hub]}} }
kafka: { bootstrap_servers: "$BOOT"${o[kafka]:+, ${o[kafka]}} }
metrics: { listen: "127.0.0.1:$HUB_METRICS" }
log: { level: ${STACK_LOG_LEVEL:-warn} }
${o[extra]:-}
YAML
}

stack_hub() {
  local name="$1"
  stack_hub_config "$@"
  stack_run "$name" "$BIN/cloud-hub" run --config "$STACK/$name.yaml"
  HUB_PID=$PID
  stack_wait_http "$HUB_METRICS" /readyz 90 || die "cloud-hub $name not ready: $(tail -5 "$STACK/$name.log")"
}

stack_agent_config() {
  local name="$1"; shift
  local -A o=()
  stack_args o "$@"
  AG_METRICS="${o[metrics]:-$(free_port)}"
  cat > "$STACK/$name.yaml" <<YAML
agent: { id: "$name" }
mqtt: { uri: "tcp://127.0.0.1:$MQ", client_id: "$name"${o[mqtt]:+, ${o[mqtt]}} }
buffer: { path: "${o[db]:-$STACK/$name.db}"${o[buffer]:+, ${o[buffer]}} }
uplink: { hub: "${o[hub]:-127.0.0.1:$HUB_PORT}"${o[uplink]:+, ${o[uplink]}} }
metrics: { listen: "127.0.0.1:$AG_METRICS" }
log: { level: ${STACK_LOG_LEVEL:-warn} }
${o[extra]:-}
YAML
}

# Waits until the agent's MQTT subscriptions are acknowledged (messages published now arrive).
stack_agent_ready() {
  local i
  stack_wait_http "$AG_METRICS" /healthz 30 || die "edge-agent not up: $(tail -5 "$STACK/$1.log")"
  for ((i = 0; i < 100; i++)); do
    curl -s "http://127.0.0.1:$AG_METRICS/metrics" | grep -q '^edgesync_agent_mqtt_connected 1' && break
    sleep 0.1
  done
  sleep 0.5  # SUBACKs follow the connect
}

stack_agent() {
  local name="$1"
  stack_agent_config "$@"
  stack_run "$name" "$BIN/edge-agent" run --config "$STACK/$name.yaml"
  AG_PID=$PID
  stack_agent_ready "$name"
}
