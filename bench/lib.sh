# Shared set-up for the bench scripts (sourced): a scratch dir RUN removed on exit, a free
# loopback port helper, and a Mosquitto broker on MQ with a wide in-flight window.
RUN="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$RUN"' EXIT
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"  # free_port: below the ephemeral range, see there
port() { free_port; }
MQ="$(port)"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 1000000\nmax_inflight_messages 1000\n' "$MQ" > "$RUN/m.conf"
mosquitto -c "$RUN/m.conf" > "$RUN/m.log" 2>&1 &
MQ_PID=$!
sleep 0.3
