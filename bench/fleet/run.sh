#!/usr/bin/env bash
# Fleet benchmark (issue #10): N simulated agents (bench-fleet-sim, gRPC callback client, one
# stream per agent) against one hub writing into a real Kafka broker. No Mosquitto, no edge-agent.
# For each N: a fresh hub (own config, ulimit -n raised to the hard limit), a fresh Kafka topic,
# the simulator for FLEET_DURATION s; reports the hub's threads / RSS / CPU (sampled from /proc
# every second), ack latency, records sent vs in Kafka, duplicates, the simulator's own CPU.
#   bench/fleet/run.sh            prints the Markdown table
#   bench/fleet/run.sh --write    also puts it into docs/benchmarks.md (fleet markers)
# Environment (defaults in brackets):
#   FLEET_N ["1000 2000 5000 10000"]  agent counts, one run each
#   FLEET_DURATION [30]               measured seconds per run
#   FLEET_RECORDS [10] FLEET_BYTES [200] FLEET_RATE [1] FLEET_WINDOW [4]   per agent
#   FLEET_SPC [8]                     streams per TCP connection
#   FLEET_PROCS [auto]                simulator processes (auto: as many as file descriptors need)
#   FLEET_HUB_BIN [build/bin/cloud-hub]  hub to measure (e.g. another worktree's build)
#   FLEET_HUB_YAML                    YAML deep-merged over the generated hub config (keys of a
#                                     newer hub, e.g. 'hub: { some_new_key: 4 }')
#   FLEET_SIM_ARGS                    extra bench-fleet-sim options (e.g. "--connect-rate 2000")
#   FLEET_TOKENS [0]                  1: a Bearer token per agent (hub.tokens_file, --token-file)
#   FLEET_KEEP                        directory to keep the raw outputs in (simulator JSON, hub
#                                     samples and logs, Kafka counts, rows.jsonl)
#   FLEET_LABEL                       what is measured, printed above the table
#   FLEET_MAX_HUB_THREADS [auto]      guard: the hub is killed when it has more threads than this
#                                     (default: half of what is left of pid_max/threads-max, so a
#                                     thread-per-stream hub cannot starve the shared box)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BIN="$BUILD_DIR/bin"
WRITE=0; [[ "${1:-}" == "--write" ]] && WRITE=1
FLEET_N="${FLEET_N:-1000 2000 5000 10000}"
DUR="${FLEET_DURATION:-30}"
RECORDS="${FLEET_RECORDS:-10}"; BYTES="${FLEET_BYTES:-200}"; RATE="${FLEET_RATE:-1}"
WINDOW="${FLEET_WINDOW:-4}"; SPC="${FLEET_SPC:-8}"
HUB_BIN="${FLEET_HUB_BIN:-$BIN/cloud-hub}"
SIM="$BIN/bench-fleet-sim"
PY="$ROOT/bench/fleet/fleet.py"
if [[ ! -x "$SIM" || ! -x "$BIN/cloud-hub" ]]; then
  BUILD_DIR="$BUILD_DIR" "$ROOT/scripts/build.sh" > /dev/null
fi
[[ -x "$HUB_BIN" ]] || { echo "fleet: no hub binary at $HUB_BIN" >&2; exit 1; }
# shellcheck source=bench/measure.sh
source "$ROOT/bench/measure.sh"
# The stack harness (scripts/stack.sh): RUN, Kafka, the hub's config, cleanup on exit.
if [[ -n "${FLEET_KEEP:-}" ]]; then STACK_DIR="$FLEET_KEEP" STACK_KEEP=1; fi
# shellcheck source=scripts/stack.sh
. "$ROOT/scripts/stack.sh"
RUN="$STACK"
HUB_PID=0
step() { echo "fleet: $*" >&2; }
RUN_ID="$(date -u +%H%M%S)"
LOAD0="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- limits of this box
HARD_NOFILE="$(ulimit -Hn)"
read -r PORT_LO PORT_HI < /proc/sys/net/ipv4/ip_local_port_range
PID_MAX="$(cat /proc/sys/kernel/pid_max)"; THREADS_MAX="$(cat /proc/sys/kernel/threads-max)"
MAP_MAX="$(cat /proc/sys/vm/max_map_count)"
threads_now() { ls -d /proc/[0-9]*/task/[0-9]* 2> /dev/null | wc -l; }
mem_avail_mib() { awk '/^MemAvailable/ {printf "%d", $2 / 1024}' /proc/meminfo; }
tcp_in_use() { ss -tan | tail -n +2 | wc -l; }
task_cap=$(( PID_MAX < THREADS_MAX ? PID_MAX : THREADS_MAX ))
THREAD_GUARD="${FLEET_MAX_HUB_THREADS:-$(( (task_cap - $(threads_now)) / 2 ))}"
step "box: nofile hard $HARD_NOFILE, ephemeral ports $PORT_LO-$PORT_HI ($(( PORT_HI - PORT_LO + 1 ))," \
     "$(tcp_in_use) TCP sockets in use), pid_max $PID_MAX, threads-max $THREADS_MAX," \
     "$(threads_now) threads running, vm.max_map_count $MAP_MAX, MemAvailable $(mem_avail_mib) MiB," \
     "$(nproc) cores; hub thread guard $THREAD_GUARD"

# plan N: sets CONNS and PROCS, or fails when the box cannot hold N.
plan() {
  local n="$1"
  CONNS=$(( (n + SPC - 1) / SPC ))
  # Each simulator process needs a descriptor per connection plus ~100 of its own (gRPC, epoll,
  # pipes); the hub one per connection plus Kafka's and its own.
  local per_proc=$(( HARD_NOFILE - 200 ))
  PROCS="${FLEET_PROCS:-$(( (CONNS + per_proc - 1) / per_proc ))}"
  (( PROCS >= 1 )) || PROCS=1
  if (( CONNS + 500 > HARD_NOFILE )); then
    step "N=$n: the hub needs ~$(( CONNS + 500 )) descriptors, hard limit $HARD_NOFILE (raise FLEET_SPC)"
    return 1
  fi
  # A fresh hub port per N, so TIME_WAIT sockets of the previous run do not hold these ports.
  local free_ports=$(( PORT_HI - PORT_LO + 1 - $(tcp_in_use) ))
  if (( CONNS > free_ports )); then
    step "N=$n: $CONNS connections but only ~$free_ports ephemeral ports free (raise FLEET_SPC)"
    return 1
  fi
  local avail; avail="$(mem_avail_mib)"
  if (( avail < 1024 + n / 5 )); then  # ~200 KiB per agent for the simulator, hub and Kafka
    step "N=$n: only $avail MiB available"
    return 1
  fi
  return 0
}

# ---------------------------------------------------------------- Kafka
step "starting Kafka"
stack_kafka
# A fresh broker answered the first run's first batches up to 0.4 s late (JIT, producer-id and
# log set-up); warm it up with an idempotent producer first.
seq 50000 | kcat -P -b "$BOOT" -t fleet-warmup -X acks=all -X enable.idempotence=true 2> /dev/null

# sampler PID OUT: "unix_s cpu_s threads rss_kib fds" every second until killed; kills the hub when
# it passes the thread guard (writes RUN/guard).
sampler() {
  local pid="$1" out="$2" hz thr
  hz="$(getconf CLK_TCK)"
  while [[ -r "/proc/$pid/stat" ]]; do
    thr="$(awk '/^Threads/ {print $2}' "/proc/$pid/status" 2> /dev/null)" || break
    echo "$(date +%s.%N) $(awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$pid/stat" 2> /dev/null) $thr $(rss_kib "$pid" 2> /dev/null) $(ls "/proc/$pid/fd" 2> /dev/null | wc -l)" >> "$out"
    if (( thr > THREAD_GUARD )); then
      echo "hub passed $THREAD_GUARD threads" > "$RUN/guard"
      kill -9 "$pid" 2> /dev/null
      break
    fi
    sleep 1
  done
}

: > "$RUN/rows.jsonl"
for N in $FLEET_N; do
  plan "$N" || continue
  TOPIC="fleet-$N-$RUN_ID"
  tokens_args=(); tokens=""
  if [[ "${FLEET_TOKENS:-0}" == 1 ]]; then
    awk -v n="$N" -v run="$RUN_ID-$N" 'BEGIN { for (i = 0; i < n; i++) printf "fleet-%s-%d tok-%d-%d\n", run, i, i, n }' > "$RUN/tokens-$N"
    tokens=", tokens_file: \"$RUN/tokens-$N\""
    tokens_args=(--token-file "$RUN/tokens-$N")
  fi
  stack_hub_config hub-base hub="shutdown_grace_ms: 5000$tokens" kafka="default_topic: \"$TOPIC\""
  if [[ -n "${FLEET_HUB_YAML:-}" ]]; then  # merged key by key into the sections above
    printf '%s\n' "$FLEET_HUB_YAML" > "$RUN/hub-extra.yaml"
    python3 "$PY" hubyaml "$RUN/hub-base.yaml" "$RUN/hub-extra.yaml" > "$RUN/hub.yaml"
  else
    cp "$RUN/hub-base.yaml" "$RUN/hub.yaml"
  fi
  rm -f "$RUN/guard"
  # Create the topic and write once into each partition before the run (auto-create and a
  # partition's first write delayed the first batches by up to a second); these records have no
  # edgesync headers and are not counted.
  echo warm-up | kcat -P -b "$BOOT" -t "$TOPIC" 2> /dev/null
  for _ in $(seq 50); do
    (( $(kcat -b "$BOOT" -L -t "$TOPIC" 2> /dev/null | grep -c 'leader 1') >= 1 )) && break
    sleep 0.2
  done
  for p in $(kcat -b "$BOOT" -L -t "$TOPIC" 2> /dev/null | sed -n 's/^ *partition \([0-9]*\),.*/\1/p'); do
    echo warm-up | kcat -P -b "$BOOT" -t "$TOPIC" -p "$p" 2> /dev/null
  done
  stack_run "hub-$N" bash -c 'ulimit -n "$0"; exec "$1" run --config "$2"' "$HARD_NOFILE" "$HUB_BIN" "$RUN/hub.yaml"
  HUB_PID=$PID
  stack_wait_http "$HUB_METRICS" /readyz 60 || { tail "$RUN/hub-$N.log" >&2; exit 1; }
  step "N=$N: hub pid $HUB_PID on :$HUB_PORT, $CONNS connections ($SPC streams each)," \
       "$PROCS simulator process(es), ${DUR}s, topic $TOPIC"
  : > "$RUN/samples-$N"
  sampler "$HUB_PID" "$RUN/samples-$N" & SAMPLER=$!
  sims=()
  per=$(( (N + PROCS - 1) / PROCS ))
  for ((p = 0; p < PROCS; p++)); do
    first=$(( p * per )); count=$(( N - first < per ? N - first : per ))
    (( count > 0 )) || break
    # shellcheck disable=SC2086
    timeout $(( DUR + 200 )) "$SIM" --hub "127.0.0.1:$HUB_PORT" --agents "$count" \
      --first-agent "$first" --fleet-size "$N" --run "$RUN_ID-$N" --duration "$DUR" \
      --records "$RECORDS" --bytes "$BYTES" --rate "$RATE" --window "$WINDOW" \
      --streams-per-connection "$SPC" "${tokens_args[@]}" ${FLEET_SIM_ARGS:-} \
      > "$RUN/sim-$N-$p.json" 2> "$RUN/sim-$N-$p.err" &
    sims+=($!)
  done
  sim_ok=1
  for s in "${sims[@]}"; do wait "$s" || sim_ok=0; done
  kill "$SAMPLER" 2> /dev/null || true; wait "$SAMPLER" 2> /dev/null || true
  if [[ -r "/proc/$HUB_PID/stat" ]]; then
    echo "$(date +%s.%N) $(cpu_s "$HUB_PID") $(awk '/^Threads/ {print $2}' "/proc/$HUB_PID/status") $(rss_kib "$HUB_PID") $(ls "/proc/$HUB_PID/fd" | wc -l)" >> "$RUN/samples-$N"
  fi
  kill "$HUB_PID" 2> /dev/null || true
  wait "$HUB_PID" 2> /dev/null || true
  HUB_PID=0
  if [[ -f "$RUN/guard" ]]; then
    step "N=$N: aborted, $(cat "$RUN/guard"); larger N skipped"
    printf '{"n": %d, "aborted": "%s"}\n' "$N" "$(cat "$RUN/guard")" >> "$RUN/rows.jsonl"
    cat "$RUN"/sim-"$N"-*.err >&2 || true
    break
  fi
  (( sim_ok )) || { step "N=$N: a simulator failed:"; cat "$RUN"/sim-"$N"-*.err >&2; exit 1; }
  step "N=$N: counting topic $TOPIC in Kafka"
  { kcat -b "$BOOT" -C -t "$TOPIC" -o beginning -e -q -f '%h\n' 2> /dev/null || true; } \
    | python3 "$PY" kafka > "$RUN/kafka-$N.json"
  python3 "$PY" row "$N" "$RUN/samples-$N" "$RUN/kafka-$N.json" "$RUN"/sim-"$N"-*.json \
    | tee -a "$RUN/rows.jsonl" >&2
done

[[ -s "$RUN/rows.jsonl" ]] || { step "no run completed"; exit 1; }
table="$(python3 "$PY" table "$RUN/rows.jsonl")"
hub_built="$(date -u -r "$HUB_BIN" '+%Y-%m-%d %H:%M UTC')"
meta="Measured by \`bench/fleet/run.sh\` on $(date -u +%Y-%m-%d) at commit $(git -C "$ROOT" rev-parse --short HEAD): ${FLEET_LABEL:-hub $HUB_BIN} (\`$(basename "$HUB_BIN")\` built $hub_built); ${DUR} s per N, $RECORDS × $BYTES B records per batch, $RATE batch/s per agent, window $WINDOW, $SPC streams per connection; $(nproc) cores shared by Kafka, the hub and the simulator, load average before the run $LOAD0."
echo; echo "$meta"; echo; echo "$table"; echo
if (( WRITE )); then
  printf '%s\n\n%s\n' "$meta" "$table" > "$RUN/fleet-table.md"
  python3 "$PY" splice "$ROOT/docs/benchmarks.md" "$RUN/fleet-table.md"
  step "wrote the table into docs/benchmarks.md"
fi
