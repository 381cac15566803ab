#!/usr/bin/env bash
# Installs what a cross build of edgesync for ARCH needs on a Debian 12 (bookworm) amd64 host:
# the cross toolchain, the target-arch -dev packages (Debian multiarch), the host code generators
# (protoc, grpc_cpp_plugin) and qemu-user-static to run the target's unit tests.
#
#   scripts/install-cross-deps.sh arm64|armhf
#
# Idempotent: adds the dpkg architecture only when missing and runs apt only for packages that are
# not installed yet. Pitfalls handled here (see shared RECIPES.md):
#   * --no-install-recommends is required (libabsl-dev:ARCH recommends g++, which would pull
#     g++:ARCH and break the native compiler);
#   * libpaho-mqtt-dev:ARCH must be named, the C++ package does not pull it;
#   * libyaml-cpp-dev is not Multi-Arch: installing it for ARCH would remove the amd64 one. We install
#     the runtime libyaml-cpp0.7:ARCH and keep the (arch-independent) headers of the host package;
#     the root CMakeLists.txt falls back to an imported target for that case.
#   * prometheus-cpp-dev:ARCH cannot be co-installed either (it depends on civetweb, which is not
#     Multi-Arch: apt would remove prometheus-cpp-dev:amd64). Same remedy: the runtime libraries
#     libprometheus-cpp-{core,pull}1.0:ARCH plus the host's headers, imported targets in CMake.
#   * the install may upgrade some amd64 libraries (libssl, ...) to keep both architectures at one
#     version; that is expected.
set -euo pipefail

ARCH="${1:-}"
case "$ARCH" in
  arm64) TRIPLE=aarch64-linux-gnu ;;
  armhf) TRIPLE=arm-linux-gnueabihf ;;
  *) echo "usage: $0 arm64|armhf" >&2; exit 2 ;;
esac
log() { echo "[cross-deps:$ARCH] $*"; }
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi

# Host (amd64) packages: generators must run on the build machine; headers-only packages are
# arch-independent (Architecture: all) and serve every target.
HOST_PKGS=(cmake make pkg-config file binutils
  protobuf-compiler protobuf-compiler-grpc
  libyaml-cpp-dev prometheus-cpp-dev doctest-dev libcli11-dev nlohmann-json3-dev)
# qemu-user-static (~390 MB) runs the target's tests; EDGESYNC_CROSS_NO_QEMU=1 skips it (image builds).
[[ ${EDGESYNC_CROSS_NO_QEMU:-0} == 1 ]] || HOST_PKGS+=(qemu-user-static)
# Target-arch packages.
TARGET_PKGS=("crossbuild-essential-$ARCH"
  "libgrpc++-dev:$ARCH" "libprotobuf-dev:$ARCH" "librdkafka-dev:$ARCH"
  "libpaho-mqttpp-dev:$ARCH" "libpaho-mqtt-dev:$ARCH" "libsqlite3-dev:$ARCH"
  "libyaml-cpp0.7:$ARCH" "libspdlog-dev:$ARCH" "libfmt-dev:$ARCH"
  "libprometheus-cpp-core1.0:$ARCH" "libprometheus-cpp-pull1.0:$ARCH" "libcivetweb-dev:$ARCH")
# Target-arch packages the project may use; installed only when apt can do it without removing
# anything (checked with a dry run), otherwise reported and skipped.
# (space-separated list in EDGESYNC_CROSS_OPTIONAL_PKGS, empty by default)
read -r -a OPTIONAL_TARGET_PKGS <<<"${EDGESYNC_CROSS_OPTIONAL_PKGS:-}"

# apt-get update with retries: a mirror in the middle of a sync answers "File has unexpected size".
apt_update() {
  local i
  for i in 1 2 3 4; do
    $SUDO apt-get update -qq && return 0
    log "apt-get update failed (attempt $i), retrying in $((i * 15))s"
    sleep $((i * 15))
  done
  return 1
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

if [[ "$(dpkg --print-architecture)" != "$ARCH" ]] && ! dpkg --print-foreign-architectures | grep -qx "$ARCH"; then
  log "dpkg --add-architecture $ARCH"
  $SUDO dpkg --add-architecture "$ARCH"
  NEED_UPDATE=1
else
  log "dpkg architecture $ARCH already enabled"
  NEED_UPDATE=0
fi

missing=()
for p in "${HOST_PKGS[@]}" "${TARGET_PKGS[@]}"; do installed "$p" || missing+=("$p"); done
opt_missing=()
for p in "${OPTIONAL_TARGET_PKGS[@]}"; do installed "$p" || opt_missing+=("$p"); done

export DEBIAN_FRONTEND=noninteractive
if ((${#missing[@]} + ${#opt_missing[@]})) || ((NEED_UPDATE)); then
  log "apt-get update"
  if ! apt_update; then
    # Do not leave the machine with an architecture whose indexes fail: every later
    # `apt-get update` (other scripts, CI) would fail too.
    if [[ -z "$(dpkg-query -W -f='${Architecture}\n' 2>/dev/null | grep -x "$ARCH")" ]]; then
      log "apt-get update keeps failing: dpkg --remove-architecture $ARCH (nothing of it installed)"
      $SUDO dpkg --remove-architecture "$ARCH"
      $SUDO apt-get update -qq || true
    fi
    log "FAILED: apt-get update for $ARCH (mirror out of sync?); try again later"
    exit 1
  fi
fi
if ((${#missing[@]})); then
  log "apt-get install --no-install-recommends ${missing[*]}"
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "all required packages present"
fi
for p in "${opt_missing[@]}"; do
  # Dry run: refuse anything that would remove a package (e.g. a non-Multi-Arch dependency).
  if sim=$(apt-get -s install --no-install-recommends "$p" 2>&1) && ! grep -q '^Remv ' <<<"$sim"; then
    log "apt-get install --no-install-recommends $p (optional)"
    $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null
  else
    log "SKIP optional $p: apt would remove packages or cannot install it:"
    grep -E '^(Remv|E:)' <<<"$sim" | sed 's/^/    /' | head -5 || true
  fi
done

# Sanity: the tools the toolchain file names.
for t in "$TRIPLE-gcc" "$TRIPLE-g++" "$TRIPLE-strip" "$TRIPLE-pkg-config" protoc grpc_cpp_plugin; do
  command -v "$t" >/dev/null || { log "MISSING tool $t"; exit 1; }
done
QEMU=$([[ $ARCH == arm64 ]] && echo qemu-aarch64-static || echo qemu-arm-static)
if [[ ${EDGESYNC_CROSS_NO_QEMU:-0} == 1 ]]; then QEMU="(no qemu: EDGESYNC_CROSS_NO_QEMU=1)"
else command -v "$QEMU" >/dev/null || { log "MISSING $QEMU"; exit 1; }; fi
log "ready: $TRIPLE-g++ $($TRIPLE-g++ -dumpfullversion), $QEMU, target libs in /usr/lib/$TRIPLE"
