#!/usr/bin/env bash
# libFuzzer targets of tests/fuzz (scripts/test.sh stage fuzz), built with Debian's clang and
# -fsanitize=fuzzer,address,undefined in build-asan: the asan stage's build (clang, ASan+UBSan,
# EDGESYNC_FUZZ=ON, so every library has libFuzzer's coverage instrumentation); run after it, this
# only links the targets, run alone it builds what they need.
#   scripts/fuzz.sh                      all targets, FUZZ_TIME seconds each (default 30)
#   scripts/fuzz.sh fuzz_config          one target
#   FUZZ_TIME=600 scripts/fuzz.sh fuzz_buffer_open
#   build-asan/bin/fuzz_config CRASHFILE  reproduce one input (prints the sanitizer report)
# Per target: first every input under tests/fuzz/regressions/TARGET/ is replayed (each must pass),
# then the fuzzer runs from tests/fuzz/corpus/TARGET/ plus the working corpus
# build-asan/fuzz-corpus/TARGET/ (kept between runs; the committed seeds are never written). A crash,
# leak, timeout (>10 s per input) or sanitizer report fails the run and leaves the input in
# build-asan/fuzz-artifacts/TARGET/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${FUZZ_BUILD_DIR:-$ROOT/build-asan}"
all=(fuzz_config fuzz_buffer_open fuzz_agent_message fuzz_stream_contract fuzz_batch_codec)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ missing (scripts/install-deps.sh)" >&2; exit 1; }
CC=clang CXX=clang++ BUILD_DIR="$BUILD" BUILD_JOBS="${BUILD_JOBS:-2}" BUILD_TARGETS="${targets[*]}" \
  "$ROOT/scripts/build.sh" -DEDGESYNC_SANITIZE=address,undefined -DEDGESYNC_FUZZ=ON

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
rc=0
for t in "${targets[@]}"; do
  bin="$BUILD/bin/$t"
  work="$BUILD/fuzz-corpus/$t" art="$BUILD/fuzz-artifacts/$t"
  mkdir -p "$work" "$art"
  shopt -s nullglob
  regressions=("$ROOT/tests/fuzz/regressions/$t"/*)
  shopt -u nullglob
  if ((${#regressions[@]})); then
    if ! "$bin" -runs=1 "${regressions[@]}" > "$art/regressions.log" 2>&1; then
      tail -60 "$art/regressions.log"
      echo "fuzz.sh: $t: a regression input fails again (log: $art/regressions.log)"; rc=1; continue
    fi
  fi
  log="$art/fuzz.log"
  if "$bin" -max_total_time="${FUZZ_TIME:-30}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$art/" "$work" "$ROOT/tests/fuzz/corpus/$t" > "$log" 2>&1; then
    echo "fuzz.sh: $t: ${#regressions[@]} regression input(s) pass; $(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$') runs, $(grep -o 'cov: [0-9]*' "$log" | tail -1), no crash"
  else
    tail -80 "$log"
    echo "fuzz.sh: $t: CRASH (input in $art/, log $log; reproduce: $bin $art/crash-*)"
    rc=1
  fi
done
exit $rc
