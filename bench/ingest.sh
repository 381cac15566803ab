#!/usr/bin/env bash
# Agent ingest MQTT -> SQLite for several commit settings (hub unreachable, so only the edge
# path is measured). Prints one row per setting: messages/s committed and the crash-loss bound.
#   bench/ingest.sh [MESSAGES]      (default 50000, 200-byte payloads, QoS 1, 10 devices)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-50000}"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
DEAD="$(port)"  # the hub is unreachable: only the edge path is measured
# Ceiling: mosquitto_sub alone draining the same load.
( timeout 120 mosquitto_sub -p "$MQ" -q 1 -t 'sensors/#' -C "$N" > /dev/null ) & SUB=$!
sleep 0.3
t0=$(date +%s.%N)
"$BIN/sensor-sim" --uri "tcp://127.0.0.1:$MQ" --devices 10 --connections 5 --count $((N / 10)) --size 200 --quiet > /dev/null
wait $SUB
t1=$(date +%s.%N)
ceiling=$(python3 -c "print(int($N/($t1-$t0)))")
printf '%-28s %10s %12s\n' "setting" "msg/s" "crash bound"
printf '%-28s %10s %12s\n' "mosquitto_sub alone (QoS 1)" "$ceiling" "-"
for sync in full normal; do
  for window in 0 256 4096; do
    id="bench-$sync-$window"; db="$RUN/$id.db"
    stack_agent_config "$id" hub="127.0.0.1:$DEAD" mqtt="clean_session: true" \
      buffer="synchronous: $sync, commit_window_records: $window" \
      uplink="backoff_initial_ms: 60000, backoff_max_ms: 60000"
    stack_run "$id" "$BIN/edge-agent" run --config "$RUN/$id.yaml"; AG=$PID
    sleep 0.5
    t0=$(date +%s.%N)
    "$BIN/sensor-sim" --uri "tcp://127.0.0.1:$MQ" --devices 10 --connections 5 --count $((N / 10)) --size 200 --quiet > /dev/null
    until [[ "$("$BIN/edge-agent" buffer status --db "$db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')" -ge "$N" ]]; do sleep 0.05; done
    t1=$(date +%s.%N)
    stack_stop "$AG"
    printf '%-28s %10s %12s\n' "synchronous=$sync window=$window" "$(python3 -c "print(int($N/($t1-$t0)))")" "$((window > 0 ? window : 1)) msgs"
  done
done
