#!/usr/bin/env bash
# Agent resource figures: bytes written to disk per record (from /proc/<pid>/io write_bytes),
# RSS idle and under a sustained publish rate. Hub unreachable: records stay in the buffer, so
# the figure is the buffer's own write volume (inserts; acks/deletes add to it when a hub acks).
#   bench/agent_resources.sh [RATE=10000] [SECONDS=10] [SYNC=full]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RATE="${1:-10000}"; SECS="${2:-10}"; SYNC="${3:-full}"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
DEAD="$(port)"  # the hub is unreachable: records stay in the buffer
stack_agent_config bench hub="127.0.0.1:$DEAD" buffer="synchronous: $SYNC" \
  uplink="backoff_initial_ms: 60000, backoff_max_ms: 60000"
stack_run bench "$BIN/edge-agent" run --config "$RUN/bench.yaml"; AG=$PID
sleep 2
# shellcheck source=bench/measure.sh
source "$ROOT/bench/measure.sh"
rss() { rss_kib "$AG"; }
echo "idle RSS: $(rss) KiB"
w0=$(wbytes "$AG")
N=$((RATE * SECS))
"$BIN/sensor-sim" --uri "tcp://127.0.0.1:$MQ" --devices 20 --connections 4 --count $((N / 20)) \
  --rate "$RATE" --size 200 --quiet > "$RUN/sim.json" &
SIM=$!
peak=0
while kill -0 $SIM 2>/dev/null; do r=$(rss); (( r > peak )) && peak=$r; sleep 0.5; done
sleep 2
w1=$(wbytes "$AG")
recs=$("$BIN/edge-agent" buffer status --db "$RUN/bench.db" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')
echo "publisher: $(cat "$RUN/sim.json")"
echo "RSS at ${RATE} msg/s target: peak ${peak} KiB"
echo "records committed: $recs, bytes written: $((w1 - w0)), per record: $(( (w1 - w0) / (recs > 0 ? recs : 1) )) B (200 B payload, synchronous=$SYNC)"
