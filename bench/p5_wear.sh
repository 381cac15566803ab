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
BIN="${BUILD_DIR:-$ROOT/build}/bin"
RATES="${P5_RATES:-100 1000 0}"; S="${P5_S:-30}"; FLAT="${P5_FLAT:-100000}"; SIZE=200
"$ROOT/scripts/kafka.sh" fetch >/dev/null
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/measure.sh
source "$ROOT/bench/measure.sh"
trap 'kill $(jobs -p) 2>/dev/null; "$ROOT/scripts/kafka.sh" stop "$RUN/kafka" >/dev/null 2>&1; rm -rf "$RUN"' EXIT
BOOT="$("$ROOT/scripts/kafka.sh" start "$RUN/kafka" 2>/dev/null)"
HUB_PORT="$(port)"; HM="$(port)"; AM="$(port)"
printf 'hub: { listen: "127.0.0.1:%s" }\nkafka: { bootstrap_servers: "%s", default_topic: p5 }\nmetrics: { listen: "127.0.0.1:%s" }\nlog: { level: warn }\n' \
  "$HUB_PORT" "$BOOT" "$HM" > "$RUN/hub.yaml"
"$BIN/cloud-hub" run --config "$RUN/hub.yaml" > "$RUN/hub.log" 2>&1 &
wait_http "$HM" /readyz 60 || { tail "$RUN/hub.log" >&2; exit 1; }

# What an agent writes that starts, opens a new buffer and stops with no message (subtracted).
idle_run() {
  printf 'agent: { id: idle }\nmqtt: { uri: "tcp://127.0.0.1:%s", client_id: idle }\nbuffer: { path: "%s" %s }\nuplink: { hub: "127.0.0.1:%s" }\nmetrics: { listen: "127.0.0.1:%s" }\nlog: { level: warn }\n' \
    "$MQ" "$RUN/idle.db" "${P5_AGENT_BUFFER:+, $P5_AGENT_BUFFER}" "$HUB_PORT" "$AM" > "$RUN/idle.yaml"
  python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[2:])
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock * 512))' \
    "$RUN/written" "$BIN/edge-agent" run --config "$RUN/idle.yaml" > "$RUN/idle.log" 2>&1 & local wr=$!
  wait_http "$AM" /healthz 30; sleep 1; kill "$(pgrep -P "$wr" edge-agent)"; wait "$wr" || true
  cat "$RUN/written"
}
IDLE="$(idle_run)"
echo "p5: an idle start and stop writes $IDLE bytes (subtracted)" >&2
echo "| rate (msg/s) | records | bytes written per record | x payload | commits | buffer settings |"
echo "|---|---|---|---|---|---|"
for rate in $RATES; do
  id="p5-$rate-$RANDOM"; db="$RUN/$id.db"
  printf 'agent: { id: "%s" }\nmqtt: { uri: "tcp://127.0.0.1:%s", client_id: "%s", clean_session: true }\nbuffer: { path: "%s" %s }\nuplink: { hub: "127.0.0.1:%s" }\nmetrics: { listen: "127.0.0.1:%s" }\nlog: { level: warn }\n' \
    "$id" "$MQ" "$id" "$db" "${P5_AGENT_BUFFER:+, $P5_AGENT_BUFFER}" "$HUB_PORT" "$AM" > "$RUN/agent.yaml"
  # Bytes written over the agent's whole life, its final checkpoint at exit included: the kernel's
  # count for a reaped child (getrusage RUSAGE_CHILDREN ru_oublock, 512 B blocks = write_bytes).
  python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[2:])
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_oublock * 512))' \
    "$RUN/written" "$BIN/edge-agent" run --config "$RUN/agent.yaml" > "$RUN/agent.log" 2>&1 & WR=$!
  wait_http "$AM" /healthz 30; AG="$(pgrep -P "$WR" edge-agent)"
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
