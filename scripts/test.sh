#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#   install -> build (-Werror) -> format (clang-format) -> unit -> integration (real Mosquitto +
#   real Kafka), with tidy (clang-tidy, whole tree) beside those two at idle priority -> asan
#   (ASan+UBSan build: unit + integration) ->
#   tsan (TSan build: buffer writer, hub streams/acks, uplink) -> fuzz (libFuzzer, clang, bounded
#   time per target) -> chaos (short run) -> deploy checks (Helm, manifests, .deb) -> both container images built with
#   buildah from the Dockerfiles and checked (scripts/build-images.sh) -> arm64 cross-build + unit
#   tests under qemu.
# Each stage prints one closing line "== stage NAME: PASS|FAIL in Ns"; the last line sums up.
# Skip stages with EDGESYNC_SKIP="cross deploy" (names as printed).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
SKIP=" ${EDGESYNC_SKIP:-} "
declare -a RESULTS=()
failed=0
t_all=$(date +%s)

stage() {
  local name="$1"; shift
  if [[ "$SKIP" == *" $name "* ]]; then
    RESULTS+=("$(printf '%-12s SKIPPED' "$name")"); echo "== stage $name: SKIPPED"; return 0
  fi
  echo; echo "== stage $name: start ($(date -u +%H:%M:%S))"
  local t0=$(date +%s) rc=0
  "$@" || rc=$?
  local dt=$(( $(date +%s) - t0 ))
  if [[ $rc -eq 0 ]]; then
    RESULTS+=("$(printf '%-12s PASS %5ss' "$name" "$dt")"); echo "== stage $name: PASS in ${dt}s"
  else
    RESULTS+=("$(printf '%-12s FAIL %5ss (exit %s)' "$name" "$dt" "$rc")"); echo "== stage $name: FAIL in ${dt}s (exit $rc)"
    failed=$((failed + 1))
  fi
  return $rc
}

ctest_label() {
  (cd "$BUILD_DIR" && ctest -L "$1" --output-on-failure --timeout 900 ${2:+-j "$2"})
}

stage install bash -c "'$ROOT/scripts/install-deps.sh' && '$ROOT/scripts/kafka.sh' fetch" || exit 1
stage build env BUILD_DIR="$BUILD_DIR" "$ROOT/scripts/build.sh" || {
  printf '%s\n' "${RESULTS[@]}"; echo "test.sh: build failed"; exit 1; }
stage format "$ROOT/scripts/check-format.sh"
# clang-tidy (~270 s of both cores) runs beside the unit and integration stages at idle priority
# (SCHED_IDLE: it gets only the CPU time no test process wants; those stages mostly wait on Kafka,
# brokers and sleeps). Its stage line comes after theirs, with its own wall time.
tidy_dir="$(mktemp -d)"
if [[ "$SKIP" != *" tidy "* ]]; then
  idle=(chrt -i 0); chrt -i 0 true 2>/dev/null || idle=(nice -n 19)
  ( t0=$(date +%s); rc=0
    "${idle[@]}" "$ROOT/scripts/tidy.sh" "$BUILD_DIR" > "$tidy_dir/log" 2>&1 || rc=$?
    echo "$(( $(date +%s) - t0 ))" > "$tidy_dir/seconds"; echo "$rc" > "$tidy_dir/rc" ) &
  tidy_pid=$!
fi
tidy_result() {
  wait "$tidy_pid" 2>/dev/null || true
  cat "$tidy_dir/log"
  echo "tidy: ran $(cat "$tidy_dir/seconds" 2>/dev/null || echo ?) s beside unit and integration"
  return "$(cat "$tidy_dir/rc" 2>/dev/null || echo 1)"
}
stage unit ctest_label unit 2
stage integration ctest_label integration
stage tidy tidy_result
rm -rf "$tidy_dir"
stage asan "$ROOT/scripts/sanitize.sh" asan
stage tsan "$ROOT/scripts/sanitize.sh" tsan
stage fuzz env FUZZ_TIME="${FUZZ_TIME:-20}" "$ROOT/scripts/fuzz.sh"  # 20 s a target in CI (budget)
[[ -x "$ROOT/scripts/chaos.sh" ]] && stage chaos "$ROOT/scripts/chaos.sh" --short
[[ -x "$ROOT/scripts/check-deploy.sh" ]] && stage deploy "$ROOT/scripts/check-deploy.sh"
[[ -x "$ROOT/scripts/check-deb.sh" ]] && stage deb "$ROOT/scripts/check-deb.sh" "$BUILD_DIR"
[[ -x "$ROOT/scripts/build-images.sh" ]] && stage container "$ROOT/scripts/build-images.sh"
[[ -x "$ROOT/scripts/cross-build.sh" ]] && stage cross-arm64 "$ROOT/scripts/cross-build.sh" arm64 --test

echo
echo "== summary ($(( $(date +%s) - t_all ))s total)"
printf '   %s\n' "${RESULTS[@]}"
if [[ $failed -gt 0 ]]; then
  echo "test.sh: $failed stage(s) failed"
  exit 1
fi
echo "test.sh: all stages passed"
