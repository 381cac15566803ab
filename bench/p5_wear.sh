#!/usr/bin/env bash
# P5 (issue #11): bytes the agent writes to its card per record. A real hub and Kafka take the
# records, so the deletes of acked records are in the figure; sensor-sim publishes 200 B JSON
# payloads at each rate for P5_S seconds (0 = flat out, P5_FLAT records). Per row: the agent's
# /proc/PID/io write_bytes from its start (buffer opened) to the last ack plus one maintenance
# pass, divided by the records, and as a multiple of the payload bytes (the issue's target: <= 3).
#   bench/p5_wear.sh                       rows at 100 msg/s, 1,000 msg/s and flat out
#   P5_RATES="1000" P5_AGENT_BUFFER='commit_delay_ms: 100' bench/p5_wear.sh   one experiment
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RATES="${P5_RATES:-100 1000 0}"; S="${P5_S:-30}"; FLAT="${P5_FLAT:-100000}"; SIZE=200
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/measure.sh
source "$ROOT/bench/measure.sh"
stack_kafka
stack_hub p5-hub kafka="default_topic: p5"
# run_counted NAME: runs the agent of $RUN/NAME.yaml under a wrapper that writes, once it has
# exited, the bytes it wrote over its whole life (its final checkpoint included) to $RUN/written:
# the kernel's count for a reaped child (getrusage RUSAGE_CHILDREN ru_oublock, 512 B blocks =
# write_bytes). Sets WR (the wrapper), AG (the agent), AM (its metrics port).
run_counted() {
  stack_run "$1" python3 "$ROOT/bench/records.py" rusage-run "$RUN/written" \
    "$BIN/edge-agent" run --config "$RUN/$1.yaml"
  WR=$PID; AM=$AG_METRICS
  stack_wait_http "$AM" /healthz 30; AG="$(pgrep -P "$WR" edge-agent)"
}

# What an agent writes that starts, opens a new buffer and stops with no message (subtracted).
stack_agent_config idle buffer="${P5_AGENT_BUFFER:-}"
run_counted idle; sleep 1; kill "$AG"; wait "$WR" || true
IDLE="$(cat "$RUN/written")"
echo "p5: an idle start and stop writes $IDLE bytes (subtracted)" >&2
echo "| rate (msg/s) | records | bytes written per record | x payload | commits | buffer settings |"
echo "|---|---|---|---|---|---|"
for rate in $RATES; do
  id="p5-$rate-$RANDOM"
  stack_agent_config "$id" mqtt="clean_session: true" buffer="${P5_AGENT_BUFFER:-}"
  run_counted "$id"
  for _ in $(seq 100); do [[ "$(metric "$AM" edgesync_agent_mqtt_connected)" == 1 ]] && break; sleep 0.1; done
  sleep 0.5
  c0=$(metric "$AM" edgesync_agent_buffer_commits_total)
  if (( rate > 0 )); then n=$((rate * S)); else n=$FLAT; fi
  "$BIN/sensor-sim" --uri "tcp://127.0.0.1:$MQ" --devices 10 --count $((n / 10)) --size $SIZE \
    --rate "$rate" --quiet
  wait_metric "$AM" edgesync_agent_records_acked_total "$n" 300
  sleep 1
  c1=$(metric "$AM" edgesync_agent_buffer_commits_total)
  kill "$AG"; wait "$WR" 2>/dev/null || true
  per=$(( ($(cat "$RUN/written") - IDLE) / n ))
  echo "| $([[ $rate == 0 ]] && echo "flat out" || echo "$rate") | $n | $per | $(awk -v p="$per" -v s=$SIZE 'BEGIN{printf "%.1f", p/s}') | $((c1 - c0)) | ${P5_AGENT_BUFFER:-defaults} |"
done
