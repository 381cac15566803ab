#!/usr/bin/env bash
# Shared by the scripts (source it: `. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"`):
#   es_log_name NAME     log() / die() print "[NAME] ..." (die: "FAIL: ...", exit 1)
#   free_port            a free TCP port on 127.0.0.1 (bash and ss; no Python)
#   installed PKG        the Debian package is installed
#   apt_install_missing PKG...   apt-get installs the ones missing (one apt-get update first)
#   EDGESYNC_BUILD_PKGS  what a native build needs (install-deps.sh, the container build stage)
#   EDGESYNC_CHECK_PKGS  what the checking stages need besides (tests, tidy, fuzz, deploy checks)

ES_LOG_NAME="${ES_LOG_NAME:-edgesync}"
es_log_name() { ES_LOG_NAME="$1"; }
log() { echo "[$ES_LOG_NAME] $*"; }
die() { echo "[$ES_LOG_NAME] FAIL: $*" >&2; exit 1; }

# A port no socket uses, picked at random below the kernel's ephemeral range (10000 up to
# ip_local_port_range's start, usually 32767): a server stopped and started again on its port
# (Kafka, Mosquitto, the hub in chaos runs) must not find it taken by a client socket that got it
# as its local end meanwhile (CI lost a run to Kafka's "Address already in use" that way). Parallel
# callers rarely pick the same one; like any free-port helper it can race with another process.
free_port() {
  local port used lo=32768
  read -r lo _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  ((lo > 11000)) || lo=61000
  used=" $(ss -Htan 2>/dev/null | awk '{n = split($4, a, ":"); print a[n]}' | tr '\n' ' ') "
  for _ in $(seq 200); do
    port=$((10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000)))
    [[ "$used" == *" $port "* ]] && continue
    # Nothing answers there either (ss may be missing in a minimal container).
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  echo "free_port: no free port found in 200 tries" >&2
  return 1
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

apt_install_missing() {
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  if ((${#missing[@]} == 0)); then log "all ${#@} Debian packages present"; return 0; fi
  log "apt-get install --no-install-recommends ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# One list for every place that installs the build dependencies.
# shellcheck disable=SC2034  # used by the scripts that source this file
EDGESYNC_BUILD_PKGS=(ca-certificates cmake ninja-build g++ make pkg-config file binutils
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  libpaho-mqttpp-dev libpaho-mqtt-dev libsqlite3-dev libzstd-dev librdkafka-dev libyaml-cpp-dev
  libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev prometheus-cpp-dev libcivetweb-dev
  doctest-dev)
# clang, clang-tidy, libclang-rt-14-dev (libFuzzer, clang sanitizer runtimes): stages tidy and
# fuzz; ccache: the sanitizer and fuzz builds reuse unchanged objects; mosquitto, kcat, a JDK and
# maven: the integration tests (Kafka); jq and yq: the charts-vs-k3s drift check; iproute2 (ss):
# free_port.
# shellcheck disable=SC2034
EDGESYNC_CHECK_PKGS=(git openssl clang-format clang clang-tidy libclang-rt-14-dev ccache
  sqlite3 mosquitto mosquitto-clients kcat default-jdk-headless maven curl procps iproute2
  python3 jq yq)
