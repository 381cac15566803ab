# Measuring helpers for bench/run.sh (sourced). Process figures come from /proc, service
# figures from the Prometheus endpoints, Kafka counts from partition end offsets.
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN{printf "%d", n/(b-a)}'; }
json_field() { python3 -c "import json,sys; print(int(json.load(sys.stdin)['$1']))"; }
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
wbytes() { awk '/^write_bytes/ {print $2}' "/proc/$1/io"; }
# us_per CPU_S_BEFORE CPU_S_AFTER N: microseconds of CPU per item.
us_per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN{printf "%.1f", (b-a)*1e6/n}'; }
# CPU seconds (user + system) a process has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
# peak_rss PID: samples VmRSS every 0.2 s until killed, then prints the peak (KiB).
peak_rss() {
  local peak=0 r
  trap 'echo $peak; exit 0' TERM
  while r=$(rss_kib "$1" 2>/dev/null); do (( r > peak )) && peak=$r; sleep 0.2; done
  echo $peak
}
metric() {
  curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m {printf "%d", $2; found=1} END {if (!found) print 0}'
}
wait_metric() {  # PORT NAME AT_LEAST TIMEOUT_S
  local i
  for ((i = 0; i < $4 * 20; i++)); do (( $(metric "$1" "$2") >= $3 )) && return 0; sleep 0.05; done
  echo "bench: $2 did not reach $3 within $4 s (at $(metric "$1" "$2"))" >&2
  return 1
}
# kafka_count BOOTSTRAP TOPIC: records in the topic (sum of partition end offsets).
kafka_count() {
  kcat -b "$1" -L -t "$2" -J 2>/dev/null | python3 -c '
import json, sys
parts = [p["partition"] for t in json.load(sys.stdin)["topics"] for p in t["partitions"]]
print(" ".join(map(str, parts)))' | tr ' ' '\n' | while read -r p; do
    kcat -b "$1" -C -t "$2" -p "$p" -o -1 -e -q -f '%o\n' 2>/dev/null | tail -1
  done | awk '{s += $1 + 1} END {print s + 0}'
}
