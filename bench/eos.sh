#!/usr/bin/env bash
# kafka.delivery: exactly_once against at_least_once on the same jobs in the same run (issue #12):
# real Mosquitto, a real Apache Kafka broker, the real agent and hub processes.
#   1. backlog drain: N records pre-filled into a buffer -> hub -> Kafka, acked (records/s), once
#      per mode; the ratio exactly_once / at_least_once is the figure (goal >= 0.8);
#   2. latency publish -> visible to a consumer at 1,000 and 5,000 msg/s: a kcat consumer
#      (read_committed in exactly_once, unbuffered output) runs during the publish, and each stamped
#      payload's arrival time minus its publish time is taken (p50 / p99 / max).
# The drain runs EOS_ROUNDS times per mode (default 3, --quick 1), the modes alternating (ALO, EOS,
# then EOS, ALO, ...) so that a shared box's load drifts over both; each round's ratio is printed
# and the table gives the median round. Each mode's first hub first drains an untimed warm-up
# (N_DRAIN / 10 records: topics created, the broker's JIT warm). EOS_LATENCY=0 skips the latency rows (drain only);
# EOS_HUB_LOG=debug logs one line per transaction (its records and phases); EOS_LOG_DIR=DIR keeps
# the hubs' logs there (hub-MODE.log, appended).
# Prints a table; writes it into docs/benchmarks.md between the eos-bench markers unless --quick.
#   [EOS_ROUNDS=N] [EOS_LATENCY=0] bench/eos.sh [--quick]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BIN="$BUILD_DIR/bin"
QUICK=0; [[ "${1:-}" == "--quick" ]] && QUICK=1
if (( QUICK )); then N_DRAIN=50000; LAT_S=5; ROUNDS=1; else N_DRAIN=300000; LAT_S=15; ROUNDS=3; fi
ROUNDS="${EOS_ROUNDS:-$ROUNDS}"; LATENCY="${EOS_LATENCY:-1}"
[[ -x "$BIN/bench-buffer-fill" && -x "$BIN/cloud-hub" ]] || BUILD_DIR="$BUILD_DIR" "$ROOT/scripts/build.sh" >/dev/null
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/measure.sh
source "$ROOT/bench/measure.sh"
step() { echo "bench-eos: $*" >&2; }
declare -A R

LOAD0="$(cut -d' ' -f1-3 /proc/loadavg)"
stack_kafka
HUB_PID=0
# start_hub MODE: the hub in at_least_once or exactly_once (its own topics per mode).
start_hub() {
  local extra=""
  [[ "$1" == exactly_once ]] && extra=", delivery: exactly_once, delivery_timeout_ms: 30000, watermark_topic: wm-bench, transactional_id: bench-hub-0"
  STACK_LOG_LEVEL="${EOS_HUB_LOG:-warn}" stack_hub_config "hub-$1" \
    kafka="default_topic: drain-$1, routes: [ { filter: \"lat1k/#\", topic: lat1k-$1 }, { filter: \"lat5k/#\", topic: lat5k-$1 } ]$extra"
  HUB_MODE="$1"
  stack_run "hub-$1" "$BIN/cloud-hub" run --config "$RUN/hub-$1.yaml"; HUB_PID=$PID
  wait_http "$HUB_METRICS" /readyz 90 || { tail "$RUN/hub-$1.log" >&2; exit 1; }
}
stop_hub() {
  stack_stop "$HUB_PID"
  [[ -n "${EOS_LOG_DIR:-}" ]] && cat "$RUN/hub-$HUB_MODE.log" >> "$EOS_LOG_DIR/hub-$HUB_MODE.log"
  return 0
}
AG_METRICS_PORT="$(port)"  # one port for every agent: the drain's poller watches it before the start
AG_METRICS=$AG_METRICS_PORT
start_agent() {  # DB: agent id and client id follow the DB name (a fresh buffer starts at seq 1)
  stack_agent "bench-$(basename "$1" .db)" db="$1" metrics="$AG_METRICS_PORT" \
    mqtt='clean_session: true, topics: ["lat1k/#", "lat5k/#"]'
}
stop_agent() { stack_stop "$AG_PID"; }
sim() { "$BIN/sensor-sim" --uri "tcp://127.0.0.1:$MQ" --size 200 --quiet "$@"; }

TXN='edgesync_hub_transactions_total{outcome="committed"}'
# warm_up MODE: an untimed drain of N_WARM records when a mode's hub first runs: its topics are
# created (auto-create waits for metadata) and the broker's JIT is warm before round 1 is timed.
N_WARM=$(( N_DRAIN / 10 ))
warm_up() {
  "$BIN/bench-buffer-fill" --db "$RUN/warm-$1.db" --count "$N_WARM" --devices 10 --size 200 > /dev/null
  start_agent "$RUN/warm-$1.db"
  wait_metric "$AG_METRICS" edgesync_agent_records_acked_total "$N_WARM" 900
  stop_agent
}
# drain MODE ROUND: a fresh buffer of N_DRAIN records drained through the running hub.
drain() {
  local db="$RUN/drain-$1-$2.db" hc0 t0 tx0 rate_now
  (( $2 == 1 )) && warm_up "$1"
  step "$1: backlog drain of $N_DRAIN records (round $2)"
  "$BIN/bench-buffer-fill" --db "$db" --count "$N_DRAIN" --devices 10 --size 200 > /dev/null
  hc0=$(cpu_s "$HUB_PID"); tx0=$(metric "$HUB_METRICS" "$TXN"); rm -f "$RUN/first-send"
  # Also timed from the agent's first record sent (polled every 20 ms meanwhile; the same moment
  # in both modes): without the agent's start and its first connection to the hub, which now and
  # then costs a whole second in either mode (the drains fall into ~92k and ~70k records/s).
  ( while (( $(metric "$AG_METRICS" edgesync_agent_records_sent_total) == 0 )); do sleep 0.02; done
    now > "$RUN/first-send" ) & local poll=$!
  t0=$(now)
  start_agent "$db"
  wait_metric "$AG_METRICS" edgesync_agent_records_acked_total "$N_DRAIN" 900
  local t2; t2=$(now)
  wait "$poll" 2>/dev/null || true
  rate_now=$(rate "$N_DRAIN" "$t0" "$t2")
  R[drain_$1_$2]=$rate_now
  R[steady_$1_$2]=$(rate "$N_DRAIN" "$(cat "$RUN/first-send" 2>/dev/null || echo "$t0")" "$t2")
  R[cpu_$1_$2]=$(us_per "$hc0" "$(cpu_s "$HUB_PID")" "$N_DRAIN")
  R[txn_$1_$2]=$(( $(metric "$HUB_METRICS" "$TXN") - tx0 ))
  stop_agent
  step "$1: round $2: $rate_now records/s (${R[steady_$1_$2]} from the first send), ${R[txn_$1_$2]} transaction(s)"
}
# latency MODE: publish -> visible at 1,000 and 5,000 msg/s.
latency() {
  local mode="$1" iso="" r key n
  [[ "$mode" == exactly_once ]] && iso="-X isolation.level=read_committed"
  for r in 1000 5000; do
    key="lat$((r / 1000))k"; n=$((r * LAT_S))
    step "$mode: latency publish -> visible at $r msg/s for ${LAT_S}s"
    echo warm-up | kcat -P -b "$BOOT" -t "$key-$mode"  # the topic exists before the consumer starts
    # shellcheck disable=SC2086
    python3 "$ROOT/bench/records.py" visible "$n" $((LAT_S + 120)) \
      kcat -b "$BOOT" -C -t "$key-$mode" $iso -o end -u -q -f '%s\n' > "$RUN/$key-$mode.out" & CONS=$!
    start_agent "$RUN/$key-$mode.db"
    sleep 2  # the consumer has its partitions assigned
    sim --prefix "$key" --stamp --devices 10 --processes 4 --connections 4 --rate "$r" --count $((n / 10)) > /dev/null
    wait_metric "$AG_METRICS" edgesync_agent_records_acked_total "$n" 120
    wait "$CONS" || true
    read -r p50 p99 mx cnt < "$RUN/$key-$mode.out" || { p50=-; p99=-; mx=-; cnt=0; }
    R[${key}_$mode]="$p50 / $p99 / $mx ($cnt records)"
    stop_agent
  done
}

for ((round = 1; round <= ROUNDS; round++)); do
  modes=(at_least_once exactly_once)
  (( round % 2 == 0 )) && modes=(exactly_once at_least_once)
  for mode in "${modes[@]}"; do
    start_hub "$mode"
    drain "$mode" "$round"
    (( round == 1 && LATENCY )) && latency "$mode"
    stop_hub
  done
done
for mode in at_least_once exactly_once; do
  iso=""; [[ "$mode" == exactly_once ]] && iso="-X isolation.level=read_committed"
  # shellcheck disable=SC2086
  R[count_$mode]=$(kcat -b "$BOOT" -C -t "drain-$mode" $iso -e -q -f '%s\n' | wc -l)
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0 > 0 && a+0 > 0) printf "%.2f", a/b; else print "-" }'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print (NR ? v[int((NR + 1) / 2)] : "-")}'; }
ratios=""; alo=""; eos=""; cpu_a=""; cpu_e=""; rpt=""; sratios=""; salo=""; seos=""
for ((round = 1; round <= ROUNDS; round++)); do
  ratios+="$(ratio "${R[drain_exactly_once_$round]}" "${R[drain_at_least_once_$round]}") "
  alo+="${R[drain_at_least_once_$round]} "; eos+="${R[drain_exactly_once_$round]} "
  sratios+="$(ratio "${R[steady_exactly_once_$round]}" "${R[steady_at_least_once_$round]}") "
  salo+="${R[steady_at_least_once_$round]} "; seos+="${R[steady_exactly_once_$round]} "
  cpu_a+="${R[cpu_at_least_once_$round]} "; cpu_e+="${R[cpu_exactly_once_$round]} "
  rpt+="$(awk -v n="$N_DRAIN" -v t="${R[txn_exactly_once_$round]}" 'BEGIN{ if (t > 0) printf "%d", n/t; else print "-" }') "
done
list() { local s="${1% }"; echo "${s// /, }"; }
lat_rows=""
(( LATENCY )) && lat_rows="
| publish -> visible to a consumer at 1,000 msg/s: p50 / p99 / max (ms) | ${R[lat1k_at_least_once]} | ${R[lat1k_exactly_once]} (read_committed) | |
| publish -> visible at 5,000 msg/s: p50 / p99 / max (ms) | ${R[lat5k_at_least_once]} | ${R[lat5k_exactly_once]} (read_committed) | |"
table=$(cat <<EOF
| figure | at_least_once | exactly_once | ratio |
|---|---|---|---|
| backlog drain, $N_DRAIN records of 200 B -> hub -> Kafka, acked (records/s), $ROUNDS round(s) alternating | $(list "$alo") ($(( N_DRAIN * ROUNDS + N_WARM )) expected with the warm-up, ${R[count_at_least_once]} in Kafka) | $(list "$eos") (${R[count_exactly_once]} read_committed) | $(list "$ratios"); **median $(echo "$ratios" | median)** |
| the same drains timed from the agent's first record sent (records/s) | $(list "$salo") | $(list "$seos") | $(list "$sratios"); **median $(echo "$sratios" | median)** |
| hub CPU per record in the drain (us) | $(list "$cpu_a") | $(list "$cpu_e") | |
| records per transaction in the drain | | $(list "$rpt") | |$lat_rows
EOF
)
echo; echo "$table"; echo
if (( ! QUICK )); then
  meta="Measured by \`bench/eos.sh\` on $(date -u +%Y-%m-%d) at commit $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) cores, load average before the run $LOAD0; kafka.commit_interval_ms 100 (default); drain rounds alternate the modes (ALO, EOS, then EOS, ALO, ...)."
  printf '%s\n\n%s\n' "$meta" "$table" > "$RUN/table"
  python3 "$ROOT/bench/records.py" splice "$ROOT/docs/benchmarks.md" "$RUN/table" eos-bench
  echo "bench-eos: wrote the table into docs/benchmarks.md" >&2
fi
