#!/usr/bin/env bash
# The benchmark figures P1-P6 of issue #6 in one command: real Mosquitto, a real Apache Kafka
# broker, the real agent and hub processes, each figure beside its ceiling measured in the same
# run. Prints a table and writes it into docs/benchmarks.md (between the bench markers; the
# analysis around them is written by hand).
#   bench/run.sh            full run (~10 min on 2 cores), rewrites docs/benchmarks.md
#   bench/run.sh --quick    smaller counts, prints the table only (smoke check of the harness)
#   BENCH_ONLY="p3lat p6"    run only these parts (p1 p2 p3 p4 p3lat p6 p7 p8); the doc is not written
#   BENCH_UPLINK='batch_max_records: 2000'  extra agent uplink keys (experiments; doc not written)
#   BENCH_KAFKA_PROPERTIES='"linger.ms": "5"'  extra hub producer properties (same)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BIN="$BUILD_DIR/bin"
QUICK=0; [[ "${1:-}" == "--quick" ]] && QUICK=1
if (( QUICK )); then N_INGEST=30000; N_DRAIN=100000; N_E2E=30000; LAT_S=5; P4_S=3
else N_INGEST=200000; N_DRAIN=1000000; N_E2E=200000; LAT_S=20; P4_S=10; fi
[[ -x "$BIN/bench-buffer-fill" && -x "$BIN/edge-agent" ]] || BUILD_DIR="$BUILD_DIR" "$ROOT/scripts/build.sh" >/dev/null
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# shellcheck source=bench/measure.sh
source "$ROOT/bench/measure.sh"
step() { echo "bench: $*" >&2; }
declare -A R  # results, by key
want() { [[ -z "${BENCH_ONLY:-}" || " $BENCH_ONLY " == *" $1 "* ]]; }

# Kafka stamps LogAppendTime, so a record's Kafka timestamp is the moment the broker stored it.
EDGESYNC_KAFKA_EXTRA_PROPERTIES="log.message.timestamp.type=LogAppendTime" stack_kafka
routes=""
for prefix in p3 p4 lat lat2 lat3; do routes+="${routes:+, }{ filter: \"$prefix/#\", topic: $prefix }"; done
stack_hub_config bench-hub \
  kafka="default_topic: p2${BENCH_KAFKA_PROPERTIES:+, properties: { $BENCH_KAFKA_PROPERTIES \}}, routes: [ $routes ]"
start_hub() {
  stack_run hub "$BIN/cloud-hub" run --config "$RUN/bench-hub.yaml"; HUB_PID=$PID
  wait_http "$HUB_METRICS" /readyz 60 || { tail "$RUN/hub.log" >&2; exit 1; }
}
# start_agent DB [extra buffer keys] — connected to the hub, subscribed to every prefix used here.
# Agent id and MQTT client id follow the DB name (a fresh buffer restarts at seq 1, and the hub
# would take a known id's resent seqs for duplicates); clean sessions, so a stopped agent's
# subscription does not make Mosquitto queue every later benchmark's messages.
start_agent() {
  stack_agent "bench-$(basename "$1" .db)" db="$1" buffer="${2:-}" uplink="${BENCH_UPLINK:-}" \
    mqtt='clean_session: true, topics: ["sensors/#", "p3/#", "p4/#", "lat/#", "lat2/#", "lat3/#"]'
}
stop_agent() { stack_stop "$AG_PID"; }
sim() { "$BIN/sensor-sim" --uri "tcp://127.0.0.1:$MQ" --size 200 --quiet "$@"; }

# ---------------------------------------------------------------- P1 ingest MQTT -> SQLite
if want p1; then
step "P1 ingest: load generator alone, mosquitto_sub alone, agent ($N_INGEST msgs, QoS 1, 200 B)"
R[gen]=$(sim --prefix nobody --devices 10 --processes 4 --connections 4 --count $((N_INGEST / 10)) | json_field rate)
( timeout 300 mosquitto_sub -p "$MQ" -q 1 -t 'sensors/#' -C "$N_INGEST" > /dev/null ) & SUB=$!
sleep 0.3; t0=$(now)
sim --devices 10 --processes 4 --connections 4 --count $((N_INGEST / 10)) > /dev/null
wait $SUB; R[p1_ceiling]=$(rate "$N_INGEST" "$t0" "$(now)")
for mode in full normal; do
  # Hub down for P1: only the edge path is measured (the agent retries in the background).
  start_agent "$RUN/p1-$mode.db" "synchronous: $mode"
  w0=$(wbytes "$AG_PID"); c0=$(cpu_s "$AG_PID"); t0=$(now)
  sim --devices 10 --processes 4 --connections 4 --count $((N_INGEST / 10)) > /dev/null
  wait_metric "$AG_METRICS" edgesync_agent_records_committed_total "$N_INGEST" 300
  R[p1_$mode]=$(rate "$N_INGEST" "$t0" "$(now)")
  R[p1_${mode}_cpu]=$(us_per "$c0" "$(cpu_s "$AG_PID")" "$N_INGEST")
  R[p1_${mode}_wb]=$(( ($(wbytes "$AG_PID") - w0) / N_INGEST ))
  stop_agent
done
fi
start_hub

# ---------------------------------------------------------------- P2 backlog drain
if want p2; then
step "P2 backlog drain: $N_DRAIN buffered records -> hub -> Kafka, then kcat -P alone"
"$BIN/bench-buffer-fill" --db "$RUN/p2.db" --count "$N_DRAIN" --devices 10 --size 200 > /dev/null
t0=$(now); start_agent "$RUN/p2.db"
peak_rss "$HUB_PID" > "$RUN/p2-hub-rss" & RS=$!
KAFKA_PID="$(cat "$RUN/kafka/kafka.pid")"
hc0=$(cpu_s "$HUB_PID"); ac0=$(cpu_s "$AG_PID"); kc0=$(cpu_s "$KAFKA_PID")
wait_metric "$AG_METRICS" edgesync_agent_records_acked_total "$N_DRAIN" 900
t1=$(now); kill $RS; wait $RS 2>/dev/null || true
R[p2]=$(rate "$N_DRAIN" "$t0" "$t1")
R[p2_hub_cpu]=$(us_per "$hc0" "$(cpu_s "$HUB_PID")" "$N_DRAIN")
R[p2_agent_cpu]=$(us_per "$ac0" "$(cpu_s "$AG_PID")" "$N_DRAIN")
R[p2_broker_cpu]=$(us_per "$kc0" "$(cpu_s "$KAFKA_PID")" "$N_DRAIN")
step "hub: batch read -> Kafka confirmed, mean $(curl -s "http://127.0.0.1:$HUB_METRICS/metrics" | awk '/^edgesync_hub_delivery_latency_seconds_sum/ {s=$2} /^edgesync_hub_delivery_latency_seconds_count/ {c=$2} END {if (c) printf "%.1f ms over %d batches", s/c*1000, c}')"
# Which threads did the work (a serial bottleneck shows as one thread busy for most of the drain).
for p in "$HUB_PID" "$AG_PID"; do
  step "busiest threads of $(cat /proc/$p/comm) over a $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s drain (CPU s): $(for t in /proc/$p/task/*; do echo "$(cat $t/comm | tr ' ' _) $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/hz}' $t/stat)"; done | sort -k2 -n -r | head -6 | awk '{printf "%s %s; ", $1, $2}')"
done
R[p2_hub_rss]=$(cat "$RUN/p2-hub-rss")
stop_agent
R[p2_in_kafka]=$(kafka_count "$BOOT" p2)
python3 "$ROOT/bench/records.py" kcat-input --count "$N_DRAIN" --devices 10 --size 200 > "$RUN/p2.kcat"
t0=$(now); kc0=$(cpu_s "$KAFKA_PID")
# kcat's own CPU: its children's time as this shell sees it (times: user and system of children).
cc0=$(awk '{print ($16 + $17)}' /proc/$$/stat)
# The same records the hub writes: key, payload and the hub's five headers (docs/cloud-hub.md),
# values of the same lengths (kcat -P can only add constant headers). They are ~170 B per record:
# without them kcat writes smaller records than the pipe does (the figure after the ratio).
kcat -P -b "$BOOT" -t p2kcat -K $'\t' -l -X acks=all -X enable.idempotence=true -X linger.ms=5 \
  -X partitioner=murmur2_random -H edgesync-agent=bench-p2 \
  -H edgesync-buffer=0123456789abcdef0123456789abcdef -H edgesync-seq=1000000 \
  -H mqtt-topic=sensors/dev-0000/data -H edgesync-received-ns=1700000000000000000 "$RUN/p2.kcat"
R[p2_ceiling]=$(rate "$N_DRAIN" "$t0" "$(now)")
R[p2_kcat_broker_cpu]=$(us_per "$kc0" "$(cpu_s "$KAFKA_PID")" "$N_DRAIN")
R[p2_kcat_cpu]=$(awk -v a="$cc0" -v b="$(awk '{print ($16 + $17)}' /proc/$$/stat)" -v hz="$(getconf CLK_TCK)" -v n="$N_DRAIN" 'BEGIN{printf "%.1f", (b-a)/hz*1e6/n}')
R[p2_kcat_in_kafka]=$(kafka_count "$BOOT" p2kcat)
t0=$(now)
kcat -P -b "$BOOT" -t p2bare -K $'\t' -l -X acks=all -X enable.idempotence=true -X linger.ms=5 \
  -X partitioner=murmur2_random "$RUN/p2.kcat"
R[p2_bare]=$(rate "$N_DRAIN" "$t0" "$(now)")
rm -f "$RUN/p2.kcat" "$RUN"/p2.db*
fi

# ---------------------------------------------------------------- P3/P4/P5 connected
if want p3; then
step "P3 end to end flat out: $N_E2E msgs publish -> agent -> hub -> Kafka"
start_agent "$RUN/p3.db"
R[p4_idle]=$(rss_kib "$AG_PID")
peak_rss "$AG_PID" > "$RUN/p3-ag-rss" & RS1=$!
peak_rss "$HUB_PID" > "$RUN/p3-hub-rss" & RS2=$!
peak_rss "$MQ_PID" > "$RUN/p3-mq-rss" & RS3=$!
w0=$(wbytes "$AG_PID"); t0=$(now)
ac0=$(cpu_s "$AG_PID"); hc0=$(cpu_s "$HUB_PID"); mc0=$(cpu_s "$MQ_PID")
sim --prefix p3 --devices 10 --processes 4 --connections 4 --count $((N_E2E / 10)) > /dev/null
wait_metric "$AG_METRICS" edgesync_agent_records_acked_total "$N_E2E" 300
R[p3]=$(rate "$N_E2E" "$t0" "$(now)")
kill $RS1 $RS2 $RS3; wait $RS1 $RS2 $RS3 2>/dev/null || true
R[p3_ag_cpu]=$(us_per "$ac0" "$(cpu_s "$AG_PID")" "$N_E2E")
R[p3_hub_cpu]=$(us_per "$hc0" "$(cpu_s "$HUB_PID")" "$N_E2E")
R[p3_mq_cpu]=$(us_per "$mc0" "$(cpu_s "$MQ_PID")" "$N_E2E"); R[p3_mq_rss]=$(cat "$RUN/p3-mq-rss")
R[p5_max]=$(( ($(wbytes "$AG_PID") - w0) / N_E2E ))
R[p3_ag_rss]=$(cat "$RUN/p3-ag-rss"); R[p3_hub_rss]=$(cat "$RUN/p3-hub-rss")
R[p3_in_kafka]=$(kafka_count "$BOOT" p3)
stop_agent
fi

if want p4; then
step "P4 agent at 20,000 msg/s offered for ${P4_S}s"
start_agent "$RUN/p4.db"
peak_rss "$AG_PID" > "$RUN/p4-ag-rss" & RS=$!
R[p4_sim]=$(sim --prefix p4 --devices 20 --processes 4 --connections 4 --rate 20000 --count $((20000 * P4_S / 20)) | json_field rate)
wait_metric "$AG_METRICS" edgesync_agent_records_acked_total $((20000 * P4_S)) 300
kill $RS; wait $RS 2>/dev/null || true
R[p4_20k]=$(cat "$RUN/p4-ag-rss")
stop_agent
fi

# latency_run KEY PREFIX RATE [buffer keys]: steady rate for LAT_S s, stamped payloads;
# latency = Kafka LogAppendTime - publish time in the payload.
latency_run() {
  local key="$1" prefix="$2" r="$3"
  start_agent "$RUN/$key.db" "${4:-}"
  local w0; w0=$(wbytes "$AG_PID")
  local n=$((r * LAT_S))
  sim --prefix "$prefix" --stamp --devices 10 --processes 4 --connections 4 --rate "$r" --count $((n / 10)) > /dev/null
  wait_metric "$AG_METRICS" edgesync_agent_records_acked_total "$n" 120
  R[${key}_wb]=$(( ($(wbytes "$AG_PID") - w0) / n ))
  R[${key}_commits]=$(metric "$AG_METRICS" edgesync_agent_buffer_commits_total)
  stop_agent
  read -r R[${key}_p50] R[${key}_p99] R[${key}_max] R[${key}_n] < <(
    kcat -b "$BOOT" -C -t "$prefix" -e -q -f '%T %s\n' | python3 "$ROOT/bench/records.py" latency)
}
if want p3lat; then
step "P3 latency at 1,000 and 5,000 msg/s (commit_delay_ms 1000, the default), and at 1,000 msg/s with 20"
latency_run lat1k lat 1000
latency_run lat5k lat2 5000
latency_run lat1kd lat3 1000 "commit_delay_ms: 20"
fi

"$ROOT/scripts/kafka.sh" stop "$RUN/kafka" >/dev/null 2>&1
stack_stop "$HUB_PID"

# ---------------------------------------------------------------- P6 Telegraf
R[p6]="-"; R[p6_rss]="-"; R[p6_ver]="not measured"
if want p6 && [[ -x "$ROOT/bench/p6_telegraf.sh" ]]; then
  step "P6 Telegraf on the same job (mqtt_consumer -> kafka output)"
  if line=$(N="$N_E2E" "$ROOT/bench/p6_telegraf.sh" 2>"$RUN/p6.err" | grep '^RESULT p6_telegraf'); then
    R[p6]=$(kv "$line" rate); R[p6_rss]=$(kv "$line" peak_rss_kib); R[p6_ver]=$(kv "$line" version)
    R[p6_in]=$(kv "$line" in_kafka)
  else
    R[p6_ver]="failed: $(tail -1 "$RUN/p6.err")"
  fi
fi

# ---------------------------------------------------------------- P7 wire, P8 lanes
# Each script runs its own stack (scripts/stack.sh); their own full tables are in
# docs/benchmarks.md (P7, P8). Column N of a markdown row: cell() ROW N.
cell() { cut -d'|' -f"$(($2 + 1))" <<<"$1" | xargs; }
if want p7; then
  step "P7 bytes on the wire: bench/p7_wire.sh, stamped sensor JSON, 100 records per batch"
  if P7_N=$((QUICK ? 20000 : 100000)) P7_BATCHES=100 P7_CODECS="none zstd" P7_SIZES=stamp \
     P7_LIVE_RATE=0 "$ROOT/bench/p7_wire.sh" > "$RUN/p7.out" 2> "$RUN/p7.err"; then
    none=$(grep '^| stamp | none | 100 |' "$RUN/p7.out"); zstd=$(grep '^| stamp | zstd' "$RUN/p7.out")
    R[p7_raw]=$(cell "$zstd" 4); R[p7_zstd]=$(cell "$zstd" 5); R[p7_none]=$(cell "$none" 5)
    R[p7_ratio]=$(cell "$zstd" 6); R[p7_cpu_zstd]=$(cell "$zstd" 7); R[p7_cpu_none]=$(cell "$none" 7)
  else
    R[p7_zstd]="failed: $(tail -1 "$RUN/p7.err")"
  fi
fi
if want p8; then
  step "P8 an alert after an outage: bench/lanes.sh"
  if LANES_BACKLOG=$((QUICK ? 50000 : 200000)) "$ROOT/bench/lanes.sh" > "$RUN/p8.out" 2> "$RUN/p8.err"; then
    R[p8_n]=$(cell "$(grep '^| alerts lane (priority 0)' "$RUN/p8.out")" 2)
    R[p8_up]=$(cell "$(grep '^| alerts lane (priority 0)' "$RUN/p8.out")" 3)
    R[p8_mid]=$(cell "$(grep '^| alerts lane, ' "$RUN/p8.out")" 3)
    R[p8_after]=$(cell "$(grep '^| alerts lane, ' "$RUN/p8.out")" 6)
    R[p8_none]=$(cell "$(grep '^| no lanes' "$RUN/p8.out")" 3)
  else
    R[p8_mid]="failed: $(tail -1 "$RUN/p8.err")"
  fi
fi

# ---------------------------------------------------------------- table
set +u  # parts left out by BENCH_ONLY print empty cells
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0 > 0 && a+0 > 0) printf "%.2f", a/b; else print "-" }'; }
mib() { awk -v k="$1" 'BEGIN{ if (k+0 > 0) printf "%.1f MiB", k/1024; else print "-" }'; }
table=$(cat <<EOF
| # | figure | edgesync | ceiling / peer | ratio |
|---|---|---|---|---|
| P1 | ingest MQTT -> SQLite, QoS 1, 200 B, synchronous=full, window 256 (msg/s) | ${R[p1_full]} | mosquitto_sub alone: ${R[p1_ceiling]} | $(ratio "${R[p1_full]}" "${R[p1_ceiling]}") |
| P1 | same, synchronous=normal (msg/s) | ${R[p1_normal]} | mosquitto_sub alone: ${R[p1_ceiling]} | $(ratio "${R[p1_normal]}" "${R[p1_ceiling]}") |
| P1 | load generator alone, no subscriber (msg/s) | ${R[gen]} | | |
| P2 | backlog drain, ${N_DRAIN} records -> hub -> Kafka (records/s) | ${R[p2]} (${R[p2_in_kafka]} in Kafka) | kcat -P alone, same records (headers too) and producer settings: ${R[p2_ceiling]} (${R[p2_kcat_in_kafka]} in Kafka; without headers ${R[p2_bare]}) | $(ratio "${R[p2]}" "${R[p2_ceiling]}") |
| P3 | end to end flat out, publish -> Kafka confirmed (msg/s) | ${R[p3]} (${R[p3_in_kafka]} in Kafka) | mosquitto_sub alone: ${R[p1_ceiling]} | $(ratio "${R[p3]}" "${R[p1_ceiling]}") |
| P3 | latency publish -> Kafka append at 1,000 msg/s (commit_delay_ms 1000, the default): p50 / p99 / max (ms) | ${R[lat1k_p50]} / ${R[lat1k_p99]} / ${R[lat1k_max]} (${R[lat1k_n]} records) | | |
| P3 | latency at 5,000 msg/s: p50 / p99 / max (ms) | ${R[lat5k_p50]} / ${R[lat5k_p99]} / ${R[lat5k_max]} (${R[lat5k_n]} records) | | |
| P3 | latency at 1,000 msg/s, commit_delay_ms 20: p50 / p99 / max (ms) | ${R[lat1kd_p50]} / ${R[lat1kd_p99]} / ${R[lat1kd_max]} (${R[lat1kd_n]} records) | | |
| P4 | agent RSS idle / peak at 20,000 msg/s offered | $(mib "${R[p4_idle]}") / $(mib "${R[p4_20k]}") (generator reached ${R[p4_sim]} msg/s) | | |
| P4 | peak RSS at the P3 flat-out load: agent / hub / Mosquitto | $(mib "${R[p3_ag_rss]}") / $(mib "${R[p3_hub_rss]}") / $(mib "${R[p3_mq_rss]}") | | |
| P4 | CPU per message at the P3 load: agent / hub / Mosquitto | ${R[p3_ag_cpu]} / ${R[p3_hub_cpu]} / ${R[p3_mq_cpu]} us | | |
| P4 | hub during the P2 drain: peak RSS, CPU per record | $(mib "${R[p2_hub_rss]}"), ${R[p2_hub_cpu]} us | | |
| P4 | CPU per record in the P2 drain: agent / hub / broker | ${R[p2_agent_cpu]} / ${R[p2_hub_cpu]} / ${R[p2_broker_cpu]} us | kcat -P / broker: ${R[p2_kcat_cpu]} / ${R[p2_kcat_broker_cpu]} us | |
| P5 | bytes written per record, ingest only (full / normal) | ${R[p1_full_wb]} / ${R[p1_normal_wb]} B | agent CPU per record: ${R[p1_full_cpu]} / ${R[p1_normal_cpu]} us | |
| P5 | bytes written per record incl. ack deletes: flat out / 1,000 msg/s / 1,000 msg/s with commit_delay_ms 20 | ${R[p5_max]} / ${R[lat1k_wb]} / ${R[lat1kd_wb]} B | commits: - / ${R[lat1k_commits]} / ${R[lat1kd_commits]} | |
| P6 | same MQTT -> Kafka job, flat out (msg/s) | ${R[p3]} | Telegraf ${R[p6_ver]}: ${R[p6]} (${R[p6_in]:-?} in Kafka) | $(ratio "${R[p3]}" "${R[p6]}") |
| P6 | RSS: agent at P3 / Telegraf | $(mib "${R[p3_ag_rss]}") | $(mib "${R[p6_rss]}") | $(ratio "${R[p3_ag_rss]}" "${R[p6_rss]}") |
| P7 | bytes on the agent's TCP connection per record, stamped sensor JSON, 100 records/batch, zstd (raw payload + topic ${R[p7_raw]} B) | ${R[p7_zstd]} B (agent CPU ${R[p7_cpu_zstd]} us) | uplink.compression none: ${R[p7_none]} B (agent CPU ${R[p7_cpu_none]} us) | ${R[p7_ratio]} of raw |
| P8 | alert latency after an outage, ${R[p8_n]}-record backlog: published mid-drain / as the hub comes up (ms) | ${R[p8_mid]} / ${R[p8_up]} (${R[p8_after]} backlog records after it) | without lanes (queued behind the backlog): ${R[p8_none]} | $(ratio "${R[p8_mid]}" "${R[p8_none]}") |
EOF
)
echo; echo "$table"; echo
if (( ! QUICK )) && [[ -z "${BENCH_ONLY:-}" ]]; then
  meta="Measured by \`bench/run.sh\` on $(date -u +%Y-%m-%d) at commit $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average before the run $(cut -d' ' -f1-3 /proc/loadavg)."
  python3 "$ROOT/bench/records.py" splice "$ROOT/docs/benchmarks.md" <(printf '%s\n\n%s\n' "$meta" "$table")
  echo "bench: wrote the table into docs/benchmarks.md" >&2
fi
