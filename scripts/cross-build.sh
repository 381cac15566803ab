#!/usr/bin/env bash
# Cross-builds edgesync for an ARM target on a Debian 12 amd64 host (Debian multiarch, no sysroot).
#
#   scripts/cross-build.sh arm64|armhf [--test] [--package]
#
#   1. scripts/install-cross-deps.sh ARCH    (idempotent; skips apt when all is installed)
#   2. cmake configure in build-ARCH/ with cross/toolchain-*.cmake, Release
#   3. build; print sizes of edge-agent, cloud-hub and the stripped edge-agent
#   4. --test:    ctest -L unit under qemu-user (CMAKE_CROSSCOMPILING_EMULATOR of the toolchain)
#      --package: cpack -G DEB -> build-ARCH/edge-agent_<ver>-1_ARCH.deb
# Env: BUILD_DIR (default build-ARCH), JOBS (default nproc), CTEST_TIMEOUT (s per test, default 300).
# Last line: "[cross-ARCH] OK in Ns" or "[cross-ARCH] FAIL (step) in Ns".
set -euo pipefail

ARCH="${1:-}"; shift || true
case "$ARCH" in
  arm64) TRIPLE=aarch64-linux-gnu;   TOOLCHAIN=cross/toolchain-aarch64.cmake ;;
  armhf) TRIPLE=arm-linux-gnueabihf; TOOLCHAIN=cross/toolchain-armhf.cmake ;;
  *) echo "usage: $0 arm64|armhf [--test] [--package]" >&2; exit 2 ;;
esac
RUN_TESTS=0; PACKAGE=0
for a in "$@"; do
  case "$a" in
    --test) RUN_TESTS=1 ;;
    --package) PACKAGE=1 ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD_DIR="${BUILD_DIR:-build-$ARCH}"
JOBS="${JOBS:-$(nproc)}"
T0=$(date +%s)
STEP=init
. "$ROOT/scripts/lib.sh"  # log
es_log_name "cross-$ARCH"
finish() {
  local rc=$?
  if ((rc == 0)); then log "OK in $(( $(date +%s) - T0 ))s"
  else log "FAIL ($STEP) in $(( $(date +%s) - T0 ))s"; fi
}
trap finish EXIT
elapsed() { echo $(( $(date +%s) - $1 )); }

STEP=deps; t=$(date +%s)
bash "$ROOT/scripts/install-cross-deps.sh" "$ARCH"
log "deps: $(elapsed "$t")s"

STEP=configure; t=$(date +%s)
GEN=(); command -v ninja >/dev/null && [[ ! -f "$BUILD_DIR/CMakeCache.txt" || -f "$BUILD_DIR/build.ninja" ]] && GEN=(-G Ninja)
TESTS=$([[ $RUN_TESTS == 1 ]] && echo ON || echo OFF)
log "cmake -S . -B $BUILD_DIR ${GEN[*]} -DCMAKE_TOOLCHAIN_FILE=$TOOLCHAIN -DCMAKE_BUILD_TYPE=Release -DEDGESYNC_BUILD_TESTS=$TESTS"
cmake -S . -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_TOOLCHAIN_FILE="$ROOT/$TOOLCHAIN" \
  -DCMAKE_BUILD_TYPE=Release -DEDGESYNC_BUILD_TESTS="$TESTS"
log "configure: $(elapsed "$t")s"

STEP=build; t=$(date +%s)
SYSROOT=$(sed -n 's/^EDGESYNC_CROSS_SYSROOT:INTERNAL=//p' "$BUILD_DIR/CMakeCache.txt")
if [[ -n "$SYSROOT" ]]; then log "target libraries: sysroot $SYSROOT"
else log "target libraries: multiarch /usr/lib/$TRIPLE"; fi
log "cmake --build $BUILD_DIR -j$JOBS"
cmake --build "$BUILD_DIR" -j"$JOBS"
log "build: $(elapsed "$t")s"

STEP=sizes
find_bin() { # the ELF executable NAME in the build tree (not a wrapper script)
  local f
  while read -r f; do
    [[ $(file -b "$f") == ELF* ]] && { echo "$f"; return; }
  done < <(find "$BUILD_DIR" -type f -name "$1" -perm -u+x -not -path '*/CMakeFiles/*' -not -path '*/_CPack_Packages/*' | sort)
}
AGENT=$(find_bin edge-agent); HUB=$(find_bin cloud-hub)
[[ -n "$AGENT" ]] || { log "edge-agent binary not found under $BUILD_DIR"; exit 1; }
"$TRIPLE-strip" -o "$BUILD_DIR/edge-agent.stripped" "$AGENT"
size_of() { stat -c %s "$1"; }
human() { numfmt --to=iec-i --suffix=B "$1"; }
log "file: $(file -b "$AGENT" | cut -d, -f1-3)"
log "size edge-agent          $(size_of "$AGENT") bytes ($(human "$(size_of "$AGENT")"))  $AGENT"
[[ -n "$HUB" ]] && log "size cloud-hub           $(size_of "$HUB") bytes ($(human "$(size_of "$HUB")"))  $HUB"
log "size edge-agent stripped $(size_of "$BUILD_DIR/edge-agent.stripped") bytes ($(human "$(size_of "$BUILD_DIR/edge-agent.stripped")"))"
log "edge-agent needs: $("$TRIPLE-objdump" -p "$AGENT" | awk '/NEEDED/{print $2}' | tr '\n' ' ')"

if ((RUN_TESTS)); then
  STEP="test"; t=$(date +%s)
  QEMU=$([[ $ARCH == arm64 ]] && echo qemu-aarch64-static || echo qemu-arm-static)
  # Sysroot mode (see install-cross-deps.sh): qemu takes loader and libraries from the sysroot.
  SYSROOT=$(sed -n 's/^EDGESYNC_CROSS_SYSROOT:INTERNAL=//p' "$BUILD_DIR/CMakeCache.txt")
  QEMU_ARGS=(); [[ -n "$SYSROOT" ]] && QEMU_ARGS=(-L "$SYSROOT")
  log "smoke: $QEMU ${QEMU_ARGS[*]} $AGENT --version"
  "$QEMU" "${QEMU_ARGS[@]}" "$AGENT" --version
  log "ctest -L unit under $QEMU"
  ctest --test-dir "$BUILD_DIR" -L unit --output-on-failure -j"$JOBS" --timeout "${CTEST_TIMEOUT:-300}"
  log "unit tests under qemu: $(elapsed "$t")s"
fi

if ((PACKAGE)); then
  STEP=package; t=$(date +%s)
  (cd "$BUILD_DIR" && cpack -G DEB)
  ls -l "$BUILD_DIR"/edge-agent_*_"$ARCH".deb
  log "package: $(elapsed "$t")s"
fi
STEP="finished"
