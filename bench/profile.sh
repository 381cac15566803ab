#!/usr/bin/env bash
# Where the time goes: perf (cpu-clock sampling, call graphs) on the agent while it ingests flat
# out, and on the hub and the agent during a backlog drain. Prints the top symbols of each.
#   bench/profile.sh [MESSAGES=200000] [DRAIN=500000]      (needs linux-perf; reports in $OUT)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-200000}"; DRAIN="${2:-500000}"
OUT="${OUT:-$ROOT/build/profile}"; mkdir -p "$OUT"
command -v perf > /dev/null || { echo "profile: perf not found (apt-get install linux-perf)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/measure.sh
source "$ROOT/bench/measure.sh"
stack_kafka
stack_hub_config prof-hub
# agent_yaml NAME: an agent whose buffer is $RUN/NAME.db (AM: its metrics port)
agent_yaml() { stack_agent_config "prof-$1" mqtt="clean_session: true"; AM=$AG_METRICS; }
report() {  # NAME PERF_DATA
  perf report -i "$2" --no-children --sort dso,symbol --percent-limit 1.5 --stdio 2>/dev/null \
    | { grep -E "^ +[0-9]" || true; } | head -25 > "$OUT/$1.txt"
  echo "== $1 (top symbols, self time; full data: $2)"; cat "$OUT/$1.txt"; echo
}

# 1. ingest flat out, hub down: MQTT -> SQLite only.
agent_yaml ingest
stack_run agent "$BIN/edge-agent" run --config "$RUN/prof-ingest.yaml"; AG=$PID
wait_http "$AM" /healthz 30; sleep 1
perf record -q -e cpu-clock -F 499 -g -p "$AG" -o "$OUT/ingest.perf" 2>"$OUT/perf-ingest.err" & PF=$!
"$BIN/sensor-sim" --uri "tcp://127.0.0.1:$MQ" --devices 10 --connections 5 --count $((N / 10)) --size 200 --quiet
wait_metric "$AM" edgesync_agent_records_committed_total "$N" 300
kill -INT $PF 2>/dev/null || true; wait $PF || true; stack_stop "$AG"
report agent-ingest "$OUT/ingest.perf"

# 2. backlog drain: agent -> hub -> Kafka.
"$BIN/bench-buffer-fill" --db "$RUN/prof-drain.db" --count "$DRAIN" > /dev/null
stack_run hub "$BIN/cloud-hub" run --config "$RUN/prof-hub.yaml"; HUB=$PID
wait_http "$HUB_METRICS" /readyz 60
perf record -q -e cpu-clock -F 499 -g -p "$HUB" -o "$OUT/hub-drain.perf" 2>/dev/null & PH=$!
agent_yaml drain
stack_run agent "$BIN/edge-agent" run --config "$RUN/prof-drain.yaml"; AG=$PID
perf record -q -e cpu-clock -F 499 -g -p "$AG" -o "$OUT/agent-drain.perf" 2>/dev/null & PA=$!
wait_metric "$AM" edgesync_agent_records_acked_total "$DRAIN" 600
kill -INT $PH $PA 2>/dev/null || true; wait $PH $PA || true
report hub-drain "$OUT/hub-drain.perf"
report agent-drain "$OUT/agent-drain.perf"
