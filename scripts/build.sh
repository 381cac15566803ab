#!/usr/bin/env bash
# Configures and builds edgesync into BUILD_DIR (default ./build) with warnings as errors.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}"
# ccache when installed (scripts/install-deps.sh): rebuilds of unchanged sources cost nothing.
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$ROOT}"  # relative paths in the hash: hits across checkouts
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
  echo "[build] configuring $BUILD_DIR ($BUILD_TYPE)"
  cmake -S "$ROOT" -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
    -DEDGESYNC_WERROR=ON "${launcher[@]}" "$@" > "$BUILD_DIR.configure.log" 2>&1 \
    || { cat "$BUILD_DIR.configure.log"; exit 1; }
fi
# BUILD_JOBS caps the parallel jobs (default: all cores); BUILD_TARGETS builds only those targets.
jobs="${BUILD_JOBS:-$(nproc)}"
targets=()
[[ -n "${BUILD_TARGETS:-}" ]] && read -r -a targets <<< "$BUILD_TARGETS" && targets=(--target "${targets[@]}")
echo "[build] compiling ($jobs jobs) in $BUILD_DIR${BUILD_TARGETS:+ (targets: $BUILD_TARGETS)}"
cmake --build "$BUILD_DIR" -j "$jobs" "${targets[@]}"
