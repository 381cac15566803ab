# Shared set-up for the bench scripts (sourced, ROOT set): the stack harness (scripts/stack.sh:
# scratch dir RUN, free ports, Mosquitto on MQ, Kafka, hub and agent configs, cleanup on exit).
# shellcheck source=scripts/stack.sh
. "$ROOT/scripts/stack.sh"
RUN="$STACK"
port() { free_port; }
wait_http() { stack_wait_http "$@"; }  # PORT PATH TIMEOUT_S
stack_mosquitto
