#!/usr/bin/env bash
# Chaos suite against the real binaries, real Mosquitto and a real Kafka broker.
#   scripts/chaos.sh --short     CI run (a few minutes); fails on a sequence gap or an MQTT-hop loss
#                                over the documented bound
#   scripts/chaos.sh --long      release check (30 s Kafka outages, more cycles); writes its table
#                                to docs/reliability.md
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
mode="${1:---short}"
[[ -x "$BUILD_DIR/bin/chaos" ]] || BUILD_DIR="$BUILD_DIR" "$ROOT/scripts/build.sh" >/dev/null
"$ROOT/scripts/kafka.sh" fetch
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
case "$mode" in
  --short)
    rc=0
    "$BUILD_DIR/bin/chaos" | tee "$out" || rc=1
    # kafka.delivery: exactly_once: agent kill -9, then three hub replicas sharing the agents
    # through the consumer group (kill -9 of the agent's replica, scale 1 -> 3 -> 1); 0 duplicates
    # required.
    "$BUILD_DIR/bin/chaos" --eos | tee -a "$out" || rc=1
    exit $rc ;;
  --long)
    rev="$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
    rc=0
    "$BUILD_DIR/bin/chaos" --long | tee "$out" || rc=1
    "$BUILD_DIR/bin/chaos" --long --eos | tee "$out.eos" || rc=1
    { echo "# Reliability: chaos suite, long run"
      echo
      echo "Run with \`scripts/chaos.sh --long\` on $(date -u +%Y-%m-%d), $(nproc) cores, commit $rev (binaries in $BUILD_DIR/bin)."
      echo "Each scenario runs under a steady QoS 1 publish load (sensor-sim, 10 devices, 150 B)."
      echo "See docs/guarantees.md for what each column may and may not contain."
      grep -E '^\||^\(gaps|^chaos:' "$out"
      echo
      echo "## kafka.delivery: exactly_once"
      echo
      echo "The same scenarios that touch the Kafka side, with the hub in exactly_once, plus three hub"
      echo "replicas sharing the agents through the consumer group (replica kill -9, scale 1 -> 3 -> 1);"
      echo "a duplicate (agent, seq) seen by the read_committed reader fails a scenario."
      grep -E '^\||^\(gaps|^chaos:' "$out.eos"; } > "$ROOT/docs/reliability.md"
    rm -f "$out.eos"
    echo "wrote docs/reliability.md"
    exit $rc ;;
  *) echo "usage: $0 --short|--long" >&2; exit 2 ;;
esac
