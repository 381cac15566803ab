#!/usr/bin/env bash
# Installs the Debian packages edgesync needs to build, test and run the demo.
# Idempotent: skips apt when every package is already installed.
# clang, clang-tidy, libclang-rt-14-dev (libFuzzer, clang sanitizer runtimes): stages tidy and fuzz;
# ccache: the sanitizer and fuzz builds reuse unchanged objects; ninja-build: CMakePresets.json.
set -euo pipefail
PKGS=(cmake g++ make pkg-config git ca-certificates openssl clang-format
  clang clang-tidy libclang-rt-14-dev ccache ninja-build
  libpaho-mqttpp-dev libpaho-mqtt-dev libsqlite3-dev sqlite3
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  librdkafka-dev libyaml-cpp-dev libspdlog-dev doctest-dev libzstd-dev
  libcli11-dev nlohmann-json3-dev prometheus-cpp-dev
  mosquitto mosquitto-clients kcat
  default-jdk-headless maven curl procps iproute2 python3)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[install] apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[install] all Debian packages present"
fi
