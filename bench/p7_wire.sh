#!/usr/bin/env bash
# P7 (issue #11): bytes on the air. For each uplink.compression (none, gzip, zstd) and batch size
# (uplink.batch_max_records), drains the same buffer of sensor-sim JSON records through a real hub
# into a real Kafka and reports, per record:
#   raw   payload + MQTT topic bytes (what the records are)
#   wire  bytes the agent's TCP connection to the hub carried (`ss -ti` bytes_acked: HTTP/2 and
#         gRPC framing, hello, acks' window updates, pings; no TCP/IP headers), read when the
#         last record is acked, before the connection closes
#   agent / hub CPU  run time of their threads (/proc/PID/task/*/schedstat, ns): the agent from
#         after its start-up (buffer opened and checked, the hub not started yet) to the last ack;
#         a fresh hub per run, from ready to the last ack
#   bench/p7_wire.sh                       prints the table
#   P7_N=20000 P7_BATCHES="100" P7_CODECS="none zstd" P7_SIZES="0" bench/p7_wire.sh
#   P7_LEVELS="1 3" bench/p7_wire.sh      zstd rows for each uplink.zstd_level
#   bench/p7_wire.sh --write               and writes the table into docs/benchmarks.md (p7 markers)
set -euo pipefail
WRITE=0; [[ "${1:-}" == "--write" ]] && WRITE=1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
N="${P7_N:-100000}"                 # records per run (10 devices x N/10)
BATCHES="${P7_BATCHES:-10 100 500}"
CODECS="${P7_CODECS:-none gzip zstd}"
# Payload variants: a number is sensor-sim --size (0 = the JSON head alone, ~41 B; 120 = its
# default, padded with a letter run), "stamp" = --stamp --size 0 (the head led by the publish
# time in ns: 19 digits that differ in every message, like real sensor time stamps).
SIZES="${P7_SIZES:-0 120 stamp}"
LEVELS="${P7_LEVELS:-1}"            # uplink.zstd_level for the zstd rows
WINDOW="${P7_WINDOW:-16}"           # uplink.max_inflight_batches (16: small batches stay quick)
# Live rows: the hub up, sensor-sim publishing at LIVE_RATE msg/s for LIVE_S s (payload
# LIVE_SIZE); batches are then as large as what arrives between two sends (0 = no live rows).
LIVE_RATE="${P7_LIVE_RATE:-1000}"; LIVE_S="${P7_LIVE_S:-20}"; LIVE_SIZE="${P7_LIVE_SIZE:-stamp}"
[[ -x "$BUILD_DIR/bin/edge-agent" && -x "$BUILD_DIR/bin/cloud-hub" && -x "$BUILD_DIR/bin/sensor-sim" ]] ||
  BUILD_DIR="$BUILD_DIR" "$ROOT/scripts/build.sh" >/dev/null
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/measure.sh
source "$ROOT/bench/measure.sh"
step() { echo "p7: $*" >&2; }

LOAD0="$(cut -d' ' -f1-3 /proc/loadavg)"
stack_kafka
DEAD_PORT="$(port)"
# A fresh hub per run, started after the agent (so the agent's start-up is not in its figures).
start_hub_on() { stack_hub p7-hub port="$1" kafka="default_topic: p7"; }
stop_hub() { stack_stop "$HUB_PID"; }
# start_agent ID HUB_PORT [uplink keys]: the buffer is $RUN/ID.db
start_agent() {
  stack_agent_config "$1" hub="127.0.0.1:$2" mqtt='clean_session: true, topics: ["p7/#"]' \
    buffer="synchronous: normal" uplink="${3:-}"
  stack_run "agent-$1" "$BIN/edge-agent" run --config "$RUN/$1.yaml"
  AG_PID=$PID
}
stop_agent() { stack_stop "$AG_PID"; }
# CPU seconds of a process with ns resolution: the sum of its threads' run time
# (/proc/PID/task/*/schedstat); /proc/PID/stat's 10 ms ticks are too coarse for ~1 us per record.
# Threads that exit in between are not counted: the agent's and hub's threads live for the run.
cpu_ns_s() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.6f", s / 1e9}'; }
# Bytes the agent's connection to the hub carried so far (the one socket with the hub as peer).
wire_bytes() {
  ss -tinH state established "( dport = :$HUB_PORT )" |
    grep -o 'bytes_acked:[0-9]*' | cut -d: -f2 | awk '{s += $1} END {print s + 0}'
}
# raw_per_record SIZE COUNT_PER_DEVICE: mean payload + topic bytes of what sensor-sim published
# (same formula as tools/sensor-sim/payload.hpp).
raw_per_record() { python3 "$ROOT/bench/records.py" p7-raw "$1" "$2"; }

rows=()
for size in $SIZES; do
  step "filling a buffer with $N sensor-sim records (--size $size), hub unreachable"
  tpl="$RUN/p7-fill-$size.db"
  start_agent "p7-fill-$size" "$DEAD_PORT" "backoff_initial_ms: 60000, backoff_max_ms: 60000"
  wait_http "$AG_METRICS" /healthz 30 || { tail "$RUN/agent-p7-fill-$size.log" >&2; exit 1; }
  for _ in $(seq 100); do [[ "$(metric "$AG_METRICS" edgesync_agent_mqtt_connected)" == 1 ]] && break; sleep 0.1; done
  sleep 0.5
  sim_args=(--size "$size"); [[ $size == stamp ]] && sim_args=(--stamp --size 0)
  "$BIN/sensor-sim" --uri "tcp://127.0.0.1:$MQ" --prefix p7 --devices 10 "${sim_args[@]}" --quiet \
    --processes 2 --connections 2 --count $((N / 10)) > /dev/null
  wait_metric "$AG_METRICS" edgesync_agent_records_committed_total "$N" 300
  stop_agent
  raw=$(raw_per_record "$size" $((N / 10)))
  for batch in $BATCHES; do  # the codecs of one batch size run back to back (same box load)
    for codec in $CODECS; do
      levels=1; [[ $codec == zstd ]] && levels="$LEVELS"
      for level in $levels; do
        id="p7-$size-$codec-$level-$batch"
        for f in "$tpl" "$tpl-wal" "$tpl-shm" "$tpl.seqfloor"; do
          [[ -e "$f" ]] && cp "$f" "$RUN/$id.db${f#"$tpl"}"
        done
        step "$id: draining $N records, compression $codec, $batch records per batch"
        HUB_PORT="$(port)"
        start_agent "$id" "$HUB_PORT" \
          "compression: $codec, zstd_level: $level, batch_max_records: $batch, max_inflight_batches: $WINDOW, backoff_initial_ms: 50, backoff_max_ms: 100"
        wait_http "$AG_METRICS" /healthz 30 || { tail "$RUN/agent-$id.log" >&2; exit 1; }
        sleep 0.5
        ac0=$(cpu_ns_s "$AG_PID")  # buffer opened and checked; the hub is not there yet
        as0=$(cpu_s "$AG_PID")
        start_hub_on "$HUB_PORT"
        hc0=$(cpu_ns_s "$HUB_PID")
        wait_metric "$AG_METRICS" edgesync_agent_records_acked_total "$N" 600
        wire=$(wire_bytes)
        ac1=$(cpu_ns_s "$AG_PID"); hc1=$(cpu_ns_s "$HUB_PID")
        step "$id: agent CPU $(awk -v a="$ac0" -v b="$ac1" 'BEGIN{printf "%.3f", b-a}') s by its threads, $(awk -v a="$as0" -v b="$(cpu_s "$AG_PID")" 'BEGIN{printf "%.2f", b-a}') s by /proc/PID/stat"
        stop_agent
        stop_hub
        rm -f "$RUN/$id.db"*
        rows+=("$size $codec $level $batch $batch $raw $wire $ac0 $ac1 $hc0 $hc1 $N")
      done
    done
  done
  rm -f "$tpl"*
done

if (( LIVE_RATE > 0 )); then
  start_hub_on "$(port)"
  nlive=$((LIVE_RATE * LIVE_S))
  raw=$(raw_per_record "$LIVE_SIZE" $((nlive / 10)))
  sim_args=(--size "$LIVE_SIZE"); [[ $LIVE_SIZE == stamp ]] && sim_args=(--stamp --size 0)
  for codec in $CODECS; do
    id="p7-live-$codec"
    step "$id: $LIVE_RATE msg/s for $LIVE_S s, compression $codec, hub up"
    start_agent "$id" "$HUB_PORT" "compression: $codec, max_inflight_batches: $WINDOW"
    wait_http "$AG_METRICS" /healthz 30 || { tail "$RUN/agent-$id.log" >&2; exit 1; }
    for _ in $(seq 100); do
      [[ "$(metric "$AG_METRICS" edgesync_agent_mqtt_connected)$(metric "$AG_METRICS" edgesync_agent_hub_connected)" == 11 ]] && break
      sleep 0.1
    done
    sleep 0.5
    ac0=$(cpu_ns_s "$AG_PID"); hc0=$(cpu_ns_s "$HUB_PID")
    "$BIN/sensor-sim" --uri "tcp://127.0.0.1:$MQ" --prefix p7 --devices 10 "${sim_args[@]}" --quiet \
      --rate "$LIVE_RATE" --count $((nlive / 10)) > /dev/null
    wait_metric "$AG_METRICS" edgesync_agent_records_acked_total "$nlive" 120
    wire=$(wire_bytes)
    ac1=$(cpu_ns_s "$AG_PID"); hc1=$(cpu_ns_s "$HUB_PID")
    sleep 2.1  # the monitor's next tick publishes the batch counter
    per=$(( nlive / $(metric "$AG_METRICS" edgesync_agent_uplink_batches_total) ))
    stop_agent
    rows+=("$LIVE_SIZE $codec 1 live-${LIVE_RATE}/s,~${per}/batch live $raw $wire $ac0 $ac1 $hc0 $hc1 $nlive")
  done
  stop_hub
fi

# The table: ratios against the raw bytes, CPU against compression none at the same size/batch.
table=$(printf '%s\n' "${rows[@]}" | python3 "$ROOT/bench/records.py" p7-table)
echo; echo "$table"
if (( WRITE )); then
  meta="Measured by \`bench/p7_wire.sh\` on $(date -u +%Y-%m-%d) at commit $(git -C "$ROOT" rev-parse --short HEAD), $N records per row drained from a buffer, live rows $LIVE_RATE msg/s for $LIVE_S s, \`max_inflight_batches\` $WINDOW, $(nproc) cores, load average before the run $LOAD0."
  printf '%s\n\n%s\n' "$meta" "$table" > "$RUN/p7-table"
  python3 "$ROOT/bench/records.py" splice "$ROOT/docs/benchmarks.md" "$RUN/p7-table" p7
  echo "p7: wrote the table into docs/benchmarks.md" >&2
fi
