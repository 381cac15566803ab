#!/usr/bin/env bash
# P6 baseline: Telegraf doing edgesync's job, MQTT -> Kafka, on the same load as the edgesync runs
# (N messages of 200 bytes, QoS 1, 10 devices, 4 publisher processes of build/bin/sensor-sim, one
# Mosquitto from bench/lib.sh, a real single-node Kafka from scripts/kafka.sh).
#
#   bench/p6_telegraf.sh            N=200000 by default; env knobs below
#
# Telegraf settings that matter for fairness (all set in the config written below):
#   - inputs.mqtt_consumer: qos=1, persistent_session=true, fixed client_id. With a persistent
#     session Telegraf acks each MQTT PUBLISH only after the Kafka output has written it
#     (tracking metrics), so the chain is at-least-once end to end -- but nothing is on disk in
#     between: the buffer is memory only (a Telegraf crash loses nothing acked to Kafka, but
#     whatever Mosquitto had handed over and not yet redelivered depends on Mosquitto's session).
#     max_undelivered_messages (UNDELIVERED, default 1000) bounds the messages taken from the
#     broker and not yet written to Kafka; Mosquitto's max_inflight_messages=1000 caps it too.
#   - payload passthrough: data_format="value", data_type="base64" (the value parser's
#     "string" type trims whitespace and NULs, base64 keeps every byte), and the Kafka output's
#     template serializer decodes it again ({{ .Field "value" | b64dec }}): Kafka gets the MQTT
#     payload byte for byte (checked below against sensor-sim's deterministic payloads).
#   - outputs.kafka: required_acks=-1, idempotent_writes=true (Sarama idempotent producer, one
#     in-flight request per broker), compression none, key = device id (topic_parsing takes
#     dev-XXXX out of sensors/dev-XXXX/data, routing_tag="device"). Sarama's default hash
#     partitioner is FNV-1a, not the Java client's murmur2, so keys land on other partitions
#     than edgesync's -- irrelevant for throughput.
#   - agent: metric_batch_size (BATCH, default 1000), metric_buffer_limit 1000000 (never drops at
#     this N), flush_interval 1s, flush_jitter 0, omit_hostname. A full batch flushes at once.
#
# Env: N (200000), BATCH (1000), UNDELIVERED (1000), PARTITIONS (3), BINARY=1 (non-UTF-8 pads),
#      CEILING=1 (first time sensor-sim -> mosquitto_sub alone, the machine's MQTT ceiling),
#      TIMEOUT (s, 600), TELEGRAF_BIN (else bench/telegraf-build.sh builds/caches it).
# Prints human-readable lines, then one line:
#   RESULT p6_telegraf msgs=N in_kafka=C secs=S rate=R peak_rss_kib=K cpu_s=C version=V
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${N:-200000}"
BATCH="${BATCH:-1000}"
UNDELIVERED="${UNDELIVERED:-1000}"
PARTITIONS="${PARTITIONS:-3}"
TIMEOUT="${TIMEOUT:-600}"
TOPIC=telemetry
CLIENT_ID=p6-telegraf
(( N % 10 == 0 )) || { echo "N must be a multiple of 10 (10 devices)" >&2; exit 2; }

TG="${TELEGRAF_BIN:-$("$ROOT/bench/telegraf-build.sh" | tail -1)}"
[[ -x "$TG" ]] || { echo "no Telegraf binary ($TG)" >&2; exit 1; }
VERSION="$("$TG" --version | awk '{print $2}')"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
stack_kafka  # the harness stops it (and any job) on exit
BS="$BOOT"
TGPID=""
KVER="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/tests/kafka/pom.xml")"
LIBS="${EDGESYNC_KAFKA_LIBS:-$HOME/.m2/edgesync-kafka-$KVER/libs}"
# The broker jars carry no TopicCommand (it lives in kafka-tools): create the topic with the Admin
# client from a single-file Java program.
cat > "$RUN/CreateTopic.java" <<'JAVA'
import java.util.*;
import org.apache.kafka.clients.admin.*;
public class CreateTopic {
  public static void main(String[] a) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", a[0]))) {
      admin.createTopics(List.of(new NewTopic(a[1], Integer.parseInt(a[2]), (short) 1))).all().get();
    }
  }
}
JAVA
java -cp "$LIBS/*" "$RUN/CreateTopic.java" "$BS" "$TOPIC" "$PARTITIONS" 2> "$RUN/create.log" \
  || { echo "topic creation failed:" >&2; cat "$RUN/create.log" >&2; exit 1; }
end_offsets() {  # sum of the topic's high watermarks
  local args=() p
  for ((p = 0; p < PARTITIONS; p++)); do args+=(-t "$TOPIC:$p:-1"); done
  kcat -b "$BS" -Q "${args[@]}" 2>/dev/null | awk '/offset/ {s += $NF} END {print s + 0}'
}
for _ in $(seq 1 100); do [[ "$(kcat -b "$BS" -Q -t "$TOPIC:$((PARTITIONS - 1)):-1" 2>/dev/null)" == *offset* ]] && break; sleep 0.1; done

sim_args=(--uri "tcp://127.0.0.1:$MQ" --devices 10 --processes 4 --connections 4 --count $((N / 10)) --size 200 --quiet)
[[ "${BINARY:-0}" == 1 ]] && sim_args+=(--binary)
ceiling="-"
if [[ "${CEILING:-0}" == 1 ]]; then  # what this machine does right now without Telegraf/Kafka
  ( timeout "$TIMEOUT" mosquitto_sub -p "$MQ" -q 1 -t 'sensors/#' -C "$N" > /dev/null ) & SUB=$!
  sleep 0.3
  c0=$(date +%s.%N)
  "$BIN/sensor-sim" "${sim_args[@]}" > /dev/null
  wait $SUB
  ceiling=$(python3 -c "print(int($N / ($(date +%s.%N) - $c0)))")
  echo "ceiling: sensor-sim -> mosquitto -> mosquitto_sub alone (QoS 1): $ceiling msg/s"
fi

# Create the persistent session (and its subscription) up front, so nothing published before
# Telegraf's SUBSCRIBE lands is lost; Telegraf then resumes it with the same client id.
mosquitto_sub -p "$MQ" -i "$CLIENT_ID" -c -q 1 -t 'sensors/#' -E

cat > "$RUN/telegraf.conf" <<CONF
[agent]
  interval = "10s"
  round_interval = false
  metric_batch_size = $BATCH
  metric_buffer_limit = 1000000
  flush_interval = "1s"
  flush_jitter = "0s"
  omit_hostname = true
  logfile = "$RUN/telegraf.log"
  debug = false

[[inputs.mqtt_consumer]]
  servers = ["tcp://127.0.0.1:$MQ"]
  topics = ["sensors/#"]
  qos = 1
  persistent_session = true
  client_id = "$CLIENT_ID"
  max_undelivered_messages = $UNDELIVERED
  topic_tag = "topic"
  data_format = "value"
  data_type = "base64"
  [[inputs.mqtt_consumer.topic_parsing]]
    topic = "sensors/+/data"
    tags = "_/device/_"

[[outputs.kafka]]
  brokers = ["$BS"]
  topic = "$TOPIC"
  client_id = "p6-telegraf"
  routing_tag = "device"
  required_acks = -1
  idempotent_writes = true
  max_retry = 10
  compression_codec = 0
  data_format = "template"
  template = '{{ .Field "value" | b64dec }}'
CONF

"$TG" --config "$RUN/telegraf.conf" > "$RUN/telegraf.out" 2>&1 &
TGPID=$!
for _ in $(seq 1 200); do
  grep -q 'Connected \[' "$RUN/telegraf.log" 2>/dev/null && break
  kill -0 "$TGPID" 2>/dev/null || { echo "telegraf exited:" >&2; cat "$RUN/telegraf.out" "$RUN/telegraf.log" >&2; exit 1; }
  sleep 0.1
done
grep -q 'Connected \[' "$RUN/telegraf.log" || { echo "telegraf did not connect:" >&2; cat "$RUN/telegraf.log" >&2; exit 1; }
sleep 0.5

cpu_ticks() { awk '{print $14 + $15}' <(sed 's/^.*) //; s/^/x x /' "/proc/$TGPID/stat"); }
TCK="$(getconf CLK_TCK)"
# Peak RSS: poll VmRSS every 0.2 s, and take the kernel's high-water mark (VmHWM) at the end.
( peak=0
  while kill -0 "$TGPID" 2>/dev/null; do
    r="$(awk '/^VmRSS:/ {print $2}' "/proc/$TGPID/status" 2>/dev/null || echo 0)"
    (( ${r:-0} > peak )) && { peak=$r; echo "$peak" > "$RUN/rss.peak"; }
    sleep 0.2
  done ) &
SAMPLER=$!

rss0="$(awk '/^VmRSS:/ {print $2}' "/proc/$TGPID/status")"
cpu0="$(cpu_ticks)"
echo "telegraf $VERSION (pid $TGPID, $TG), kafka $BS, mqtt :$MQ, N=$N batch=$BATCH undelivered=$UNDELIVERED partitions=$PARTITIONS, load $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(date +%s.%N)
"$BIN/sensor-sim" "${sim_args[@]}" > "$RUN/sim.log" 2>&1 &
SIM=$!
count=0; last=-1; last_change=$(date +%s); tpub=""
while :; do
  count="$(end_offsets)"
  now=$(date +%s)
  if [[ -z "$tpub" ]] && ! kill -0 "$SIM" 2>/dev/null; then
    tpub=$(date +%s.%N)
    wait "$SIM" || { echo "sensor-sim failed:" >&2; cat "$RUN/sim.log" >&2; exit 1; }
  fi
  (( count >= N )) && break
  (( count != last )) && { last=$count; last_change=$now; }
  if (( now - last_change > 30 || now - ${t0%.*} > TIMEOUT )); then
    echo "stalled at $count/$N records in Kafka" >&2; break
  fi
  sleep 0.1
done
t1=$(date +%s.%N)
cpu1="$(cpu_ticks)"
[[ -z "$tpub" ]] && { wait "$SIM" || true; tpub=$t1; }
hwm="$(awk '/^VmHWM:/ {print $2}' "/proc/$TGPID/status")"
kill "$SAMPLER" 2>/dev/null || true; wait "$SAMPLER" 2>/dev/null || true
peak="$(cat "$RUN/rss.peak" 2>/dev/null || echo 0)"
(( hwm > peak )) && peak=$hwm
# Late duplicates (redeliveries) would still be arriving: give them 3 s before the final count.
sleep 3
in_kafka="$(end_offsets)"

# Read everything back: distinct (device, n), payloads byte-exact, keys = device.
kcat -b "$BS" -C -t "$TOPIC" -e -q -f '%K %S %k%s' > "$RUN/out.bin" 2>/dev/null
verify="$(python3 - "$RUN/out.bin" "$N" "${BINARY:-0}" <<'PY'
import re, sys
data = open(sys.argv[1], 'rb').read(); n_exp = int(sys.argv[2]); binary = sys.argv[3] == '1'
def payload_for(dev, n, size=200):
    s = ('{"d":"%s","n":%d,"v":%.1f,"p":"' % (dev, n, (n % 500) / 10.0 + 10.0)).encode()
    i = 0; pad = bytearray()
    while len(s) + len(pad) + 2 < size:
        pad.append(((n + i) & 0xFF) if binary else (ord('a') + (n + i) % 26)); i += 1
    return s + bytes(pad) + b'"}'
pos = 0; total = 0; seen = set(); dups = 0; bad = 0; badkey = 0
head = re.compile(rb'\{"d":"(dev-\d+)","n":(\d+),')
while pos < len(data):
    sp1 = data.index(b' ', pos); klen = int(data[pos:sp1])
    sp2 = data.index(b' ', sp1 + 1); plen = int(data[sp1 + 1:sp2])
    key = data[sp2 + 1:sp2 + 1 + max(klen, 0)]; p = sp2 + 1 + max(klen, 0)
    payload = data[p:p + plen]; pos = p + plen; total += 1
    m = head.match(payload)
    if not m: bad += 1; continue
    dev, n = m.group(1).decode(), int(m.group(2))
    if payload != payload_for(dev, n): bad += 1
    if key != m.group(1): badkey += 1
    if (dev, n) in seen: dups += 1
    seen.add((dev, n))
print(f"read={total} distinct={len(seen)} dups={dups} missing={n_exp - len(seen)} "
      f"payload_mismatch={bad} key_mismatch={badkey}")
PY
)"

secs=$(python3 -c "print(f'{$t1 - $t0:.3f}')")
pub_secs=$(python3 -c "print(f'{$tpub - $t0:.3f}')")
rate=$(python3 -c "print(int(min($count, $N) / ($t1 - $t0)))")
cpu_s=$(python3 -c "print(f'{($cpu1 - $cpu0) / $TCK:.2f}')")
errs="$(grep -c '^.*E! ' "$RUN/telegraf.log" || true)"
echo "published $N in ${pub_secs} s (sensor-sim), $count in Kafka after ${secs} s -> $rate msg/s end to end"
echo "telegraf: rss before load ${rss0} KiB, peak ${peak} KiB; cpu ${cpu_s} s during the run; ${errs} error lines in its log"
echo "kafka readback: $verify; final end offsets $in_kafka"
(( errs > 0 )) && grep 'E! ' "$RUN/telegraf.log" | head -5
echo "RESULT p6_telegraf msgs=$N in_kafka=$in_kafka secs=$secs rate=$rate peak_rss_kib=$peak cpu_s=$cpu_s version=$VERSION"
