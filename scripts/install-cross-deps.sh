#!/usr/bin/env bash
# Installs what a cross build of edgesync for ARCH needs on a Debian 12 (bookworm) amd64 host:
# the cross toolchain, the target-arch -dev packages (Debian multiarch), the host code generators
# (protoc, grpc_cpp_plugin) and qemu-user-static to run the target's unit tests.
#
#   scripts/install-cross-deps.sh arm64|armhf
#
# Two ways to provide the target's libraries (EDGESYNC_CROSS_MODE):
#   multiarch  dpkg --add-architecture ARCH and apt-get install the :ARCH -dev packages (default way,
#              exact library versions of a patched Debian 12 target);
#   sysroot    download the ARCH packages with a private apt configuration (signed bookworm and
#              bookworm-updates indexes, checked like any apt download) and unpack them into
#              EDGESYNC_CROSS_SYSROOT (default /opt/edgesync/sysroot-ARCH). dpkg never sees them, so
#              the amd64 packages cannot be touched. bookworm-security is left out: see below.
#   auto       (default) multiarch; if apt-get update cannot fetch the ARCH indexes (broken mirror),
#              fall back to sysroot. A machine that already has one of the two keeps using it.
#              armhf only (its toolchain file reads the sysroot); arm64 is always multiarch.
# Why the sysroot leaves out bookworm-security: the multiarch install failed because the mirror served
# a stale bookworm-security binary-armhf/Packages.xz (size/hash differ from the signed InRelease,
# by-hash 404). Excluding only that index from multiarch does not work: Multi-Arch: same packages
# must match the amd64 version exactly and amd64 has security versions (libssl3, libssl-dev,
# libsasl2-2, linux-libc-dev), so apt would refuse or downgrade amd64. In a sysroot the versions are
# independent; linking against the bookworm point-release libraries gives the same sonames/ABI, and the
# target runs its own (security-updated) libraries.
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
  "libpaho-mqttpp-dev:$ARCH" "libpaho-mqtt-dev:$ARCH" "libsqlite3-dev:$ARCH" "libzstd-dev:$ARCH"
  "libyaml-cpp0.7:$ARCH" "libspdlog-dev:$ARCH" "libfmt-dev:$ARCH"
  "libprometheus-cpp-core1.0:$ARCH" "libprometheus-cpp-pull1.0:$ARCH" "libcivetweb-dev:$ARCH")
# Target-arch packages the project may use; installed only when apt can do it without removing
# anything (checked with a dry run), otherwise reported and skipped.
# (space-separated list in EDGESYNC_CROSS_OPTIONAL_PKGS, empty by default)
read -r -a OPTIONAL_TARGET_PKGS <<<"${EDGESYNC_CROSS_OPTIONAL_PKGS:-}"

MODE="${EDGESYNC_CROSS_MODE:-auto}"
case "$MODE" in auto|multiarch|sysroot) ;; *) echo "EDGESYNC_CROSS_MODE must be auto|multiarch|sysroot" >&2; exit 2 ;; esac
SYSROOT="${EDGESYNC_CROSS_SYSROOT:-/opt/edgesync/sysroot-$ARCH}"
# Only cross/toolchain-armhf.cmake reads a sysroot: for other targets auto means multiarch (with the
# full retries), and sysroot is refused.
if [[ $ARCH != armhf ]]; then
  [[ $MODE != sysroot ]] || { echo "EDGESYNC_CROSS_MODE=sysroot is supported for armhf only" >&2; exit 2; }
  MODE=multiarch
fi
# Sysroot mode: the cross compiler comes from the host (crossbuild-essential-ARCH has no :ARCH
# dependencies); everything else is unpacked into the sysroot, including the -dev packages that are
# not co-installable in multiarch (they are just files there) and the arch-independent header
# packages, so CMake finds every package inside the sysroot. protobuf-compiler-grpc:ARCH is unpacked
# only because gRPC's CMake targets check that ${prefix}/bin/grpc_cpp_plugin exists; the host's
# grpc_cpp_plugin is what runs.
SYSROOT_HOST_PKGS=(cmake make pkg-config file binutils protobuf-compiler protobuf-compiler-grpc
  "crossbuild-essential-$ARCH")
[[ ${EDGESYNC_CROSS_NO_QEMU:-0} == 1 ]] || SYSROOT_HOST_PKGS+=(qemu-user-static)
SYSROOT_PKGS=(libc6-dev libgrpc++-dev libprotobuf-dev protobuf-compiler-grpc librdkafka-dev
  libpaho-mqttpp-dev libpaho-mqtt-dev libsqlite3-dev libzstd-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  prometheus-cpp-dev libcivetweb-dev doctest-dev libcli11-dev nlohmann-json3-dev)
SYSROOT_STAMP="$SYSROOT/.edgesync-sysroot"

# apt-get update with retries: a mirror in the middle of a sync answers "File has unexpected size".
# In auto mode, when only the ARCH indexes fail, give up after two attempts (the sysroot fallback
# does not need them).
apt_update() {
  local i err
  for i in 1 2 3 4; do
    err=$($SUDO apt-get update -qq 2>&1 >/dev/null) && return 0
    echo "$err" >&2
    if [[ $MODE == auto ]] && ((i >= 2)) && grep -q "binary-$ARCH/" <<<"$err" \
       && ! grep '^E: Failed to fetch' <<<"$err" | grep -qv "binary-$ARCH/"; then
      log "apt-get update: only the $ARCH indexes fail (attempt $i)"
      return 1
    fi
    log "apt-get update failed (attempt $i), retrying in $((i * 15))s"
    sleep $((i * 15))
  done
  return 1
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
export DEBIAN_FRONTEND=noninteractive

QEMU=$([[ $ARCH == arm64 ]] && echo qemu-aarch64-static || echo qemu-arm-static)
check_tools() { # the tools the toolchain file names
  local t
  for t in "$TRIPLE-gcc" "$TRIPLE-g++" "$TRIPLE-strip" "$@" protoc grpc_cpp_plugin; do
    command -v "$t" >/dev/null || { log "MISSING tool $t"; exit 1; }
  done
  if [[ ${EDGESYNC_CROSS_NO_QEMU:-0} == 1 ]]; then QEMU="(no qemu: EDGESYNC_CROSS_NO_QEMU=1)"
  else command -v "$QEMU" >/dev/null || { log "MISSING $QEMU"; exit 1; }; fi
}

# --- sysroot mode -------------------------------------------------------------------------------
build_sysroot() {
  local missing=() p
  for p in "${SYSROOT_HOST_PKGS[@]}"; do installed "$p" || missing+=("$p"); done
  if ((${#missing[@]})); then
    log "apt-get install --no-install-recommends ${missing[*]} (host)"
    $SUDO apt-get update -qq || log "apt-get update reported errors; installing host packages anyway"
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  local want="bookworm bookworm-updates: ${SYSROOT_PKGS[*]}"
  if [[ -f $SYSROOT_STAMP && "$(head -1 "$SYSROOT_STAMP")" == "$want" ]]; then
    log "sysroot $SYSROOT present ($(sed -n 2p "$SYSROOT_STAMP"))"
    return 0
  fi
  log "building sysroot $SYSROOT from signed bookworm + bookworm-updates ($ARCH)"
  local A="$SYSROOT.apt" NEW="$SYSROOT.new"
  $SUDO rm -rf "$A" "$NEW"
  $SUDO mkdir -p "$A/state/lists/partial" "$A/cache/archives/partial" "$A/etc/apt.conf.d" \
    "$A/etc/preferences.d" "$NEW"
  $SUDO touch "$A/state/status"   # empty dpkg status: resolve the full dependency closure
  local key=/usr/share/keyrings/debian-archive-keyring.gpg
  $SUDO tee "$A/sources.list" >/dev/null <<SRC
deb [arch=$ARCH signed-by=$key] http://deb.debian.org/debian bookworm main
deb [arch=$ARCH signed-by=$key] http://deb.debian.org/debian bookworm-updates main
SRC
  $SUDO tee "$A/apt.conf" >/dev/null <<CONF
APT::Architecture "$ARCH";
APT::Architectures { "$ARCH"; };
APT::Install-Recommends "false";
Acquire::Retries "3";
Dir::State "$A/state";
Dir::State::status "$A/state/status";
Dir::Cache "$A/cache";
Dir::Etc::sourcelist "$A/sources.list";
Dir::Etc::sourceparts "-";
Dir::Etc::parts "$A/etc/apt.conf.d";
Dir::Etc::preferencesparts "$A/etc/preferences.d";
CONF
  local apt=(env APT_CONFIG="$A/apt.conf" apt-get -qq)
  [[ -z $SUDO ]] || apt=("$SUDO" "${apt[@]}")
  "${apt[@]}" update
  "${apt[@]}" install -y --download-only "${SYSROOT_PKGS[@]}" >/dev/null
  local n=0 d
  for d in "$A"/cache/archives/*.deb; do $SUDO dpkg-deb -x "$d" "$NEW"; n=$((n + 1)); done
  # Absolute symlinks (libz.so -> /lib/...) would point into the host: make them relative.
  local l t
  while IFS= read -r l; do
    t=$(readlink "$l"); $SUDO ln -sfn --relative "$NEW$t" "$l"
  done < <(find "$NEW" -type l -lname '/*')
  printf '%s\n%s packages, %s\n' "$want" "$n" "$(date -u +%Y-%m-%dT%H:%MZ)" | $SUDO tee "$NEW/.edgesync-sysroot" >/dev/null
  $SUDO rm -rf "$SYSROOT" "$A/cache/archives"
  $SUDO mv "$NEW" "$SYSROOT"
  log "sysroot ready: $n packages, $(du -sh "$SYSROOT" | cut -f1)"
}

finish_sysroot() {
  build_sysroot
  check_tools pkg-config
  log "ready (sysroot): $TRIPLE-g++ $($TRIPLE-g++ -dumpfullversion), $QEMU, target libs in $SYSROOT/usr/lib/$TRIPLE"
  exit 0
}

if [[ $MODE == sysroot ]] || { [[ $MODE == auto ]] && ! installed "libgrpc++-dev:$ARCH" && [[ -f $SYSROOT_STAMP ]]; }; then
  finish_sysroot
fi

# --- multiarch mode -----------------------------------------------------------------------------
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
    if [[ $MODE == auto ]]; then
      log "multiarch unavailable (mirror out of sync?): falling back to a sysroot"
      finish_sysroot
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

check_tools "$TRIPLE-pkg-config"
log "ready: $TRIPLE-g++ $($TRIPLE-g++ -dumpfullversion), $QEMU, target libs in /usr/lib/$TRIPLE"
