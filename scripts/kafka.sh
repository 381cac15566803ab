#!/usr/bin/env bash
# Runs a real single-node Apache Kafka broker (KRaft, broker+controller in one JVM) for tests and
# the demo. Not part of the product. The jars come from Maven Central via tests/kafka/pom.xml.
#
#   kafka.sh fetch             download the broker jars once (cached under $EDGESYNC_KAFKA_LIBS)
#   kafka.sh start DIR         start a broker whose files live in DIR (free loopback ports are
#                              chosen on first start and kept); prints and writes DIR/bootstrap
#   kafka.sh stop DIR          stop it (SIGTERM, then SIGKILL after 20 s)
#   kafka.sh kill DIR          kill -9 it
# EDGESYNC_KAFKA_EXTRA_PROPERTIES (lines of key=value) is appended to a new broker's properties.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/tests/kafka/pom.xml")"
LIBS="${EDGESYNC_KAFKA_LIBS:-$HOME/.m2/edgesync-kafka-$KAFKA_VERSION/libs}"

. "$HERE/lib.sh"  # free_port
log() { echo "[kafka] $*" >&2; }  # stderr: `start` prints the bootstrap address on stdout

fetch() {
  if [[ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]]; then return 0; fi
  log "fetching Apache Kafka $KAFKA_VERSION broker jars with Maven into $LIBS"
  mkdir -p "$LIBS"
  mvn -B -q -f "$ROOT/tests/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$LIBS" -DincludeScope=runtime
  [[ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]] || { log "Maven did not deliver the jars"; exit 1; }
}

pid_alive() { [[ -f "$1/kafka.pid" ]] && kill -0 "$(cat "$1/kafka.pid")" 2>/dev/null; }

start() {
  local dir="$1"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  fetch
  if pid_alive "$dir"; then cat "$dir/bootstrap"; return 0; fi
  if [[ ! -f "$dir/server.properties" ]]; then
    local port cport
    port="$(free_port)"; cport="$(free_port)"
    while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done
    cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=67108864
PROPS
    # Extra broker properties, one per line (benchmarks: log.message.timestamp.type=LogAppendTime).
    [[ -n "${EDGESYNC_KAFKA_EXTRA_PROPERTIES:-}" ]] && printf '%s\n' "$EDGESYNC_KAFKA_EXTRA_PROPERTIES" >> "$dir/server.properties"
    cat > "$dir/log4j.properties" <<PROPS
log4j.rootLogger=WARN, file
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
PROPS
    echo "127.0.0.1:$port" > "$dir/bootstrap"
  fi
  local java_opts=(-Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
                   "-Dlog4j.configuration=file:$dir/log4j.properties" "-Dkafka.logs.dir=$dir")
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    java "${java_opts[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
      -t "ZWRnZXN5bmMtdGVzdC0xMg" -c "$dir/server.properties" > "$dir/format.log" 2>&1 \
      || { log "storage format failed:"; cat "$dir/format.log" >&2; exit 1; }
  fi
  nohup java "${java_opts[@]}" -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
    >> "$dir/stdout.log" 2>&1 < /dev/null &
  echo $! > "$dir/kafka.pid"
  local bs; bs="$(cat "$dir/bootstrap")"
  for _ in $(seq 1 120); do
    if kcat -b "$bs" -L -m 2 >/dev/null 2>&1; then
      log "broker up at $bs (pid $(cat "$dir/kafka.pid"), files in $dir)"
      echo "$bs"
      return 0
    fi
    pid_alive "$dir" || { log "broker exited during start-up:"; tail -n 30 "$dir/stdout.log" "$dir/server.log" >&2 || true; exit 1; }
    sleep 0.5
  done
  log "broker did not answer within 60 s; see $dir/server.log"
  exit 1
}

stop() {
  local dir="$1" sig="${2:-TERM}"
  pid_alive "$dir" || return 0
  local pid; pid="$(cat "$dir/kafka.pid")"
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/kafka.pid"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:?DIR}" ;;
  stop) stop "${2:?DIR}" TERM ;;
  kill) stop "${2:?DIR}" KILL ;;
  *) echo "usage: $0 fetch | start DIR | stop DIR | kill DIR" >&2; exit 2 ;;
esac
