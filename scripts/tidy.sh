#!/usr/bin/env bash
# clang-tidy (the committed .clang-tidy) over every C++ source of the tree: common, edge-agent,
# cloud-hub, tools, bench and tests (not the generated protobuf code). Fails on any warning
# (but the ones listed in tests/tidy-pending.txt, see docs/testing.md).
#   scripts/tidy.sh [BUILD_DIR]   uses BUILD_DIR/compile_commands.json (default ./build; built
#                                 first when missing, the generated headers must exist)
#   TIDY_FILES='edge-agent/src/cli/time_spec|tests/support' scripts/tidy.sh   only the sources whose
#                                 path (from the top) starts with that regex
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-${BUILD_DIR:-$ROOT/build}}"
command -v run-clang-tidy >/dev/null || {
  echo "tidy.sh: run-clang-tidy missing (scripts/install-deps.sh installs clang-tidy)" >&2; exit 1; }
if [[ ! -f "$BUILD/compile_commands.json" || ! -f "$BUILD/gen/edgesync/v1/sync.pb.h" ]]; then
  BUILD_DIR="$BUILD" "$ROOT/scripts/build.sh"
fi
regex="^$ROOT/(${TIDY_FILES:-(common|edge-agent|cloud-hub|tools|bench|tests)/})"
n=$(grep -o '"file": "[^"]*' "$BUILD/compile_commands.json" | cut -d'"' -f4 | grep -cE "$regex" || true)
echo "tidy.sh: $n translation units, $(clang-tidy --version | grep -o 'version [0-9.]*')"
((n > 0)) || { echo "tidy.sh: no translation unit matches $regex in $BUILD/compile_commands.json" >&2; exit 1; }
out="$BUILD/clang-tidy.log"
rc=0
run-clang-tidy -p "$BUILD" -j "${TIDY_JOBS:-2}" -quiet "$regex" > "$out" 2>&1 || rc=$?
# Each finding once (a header's finding repeats for every file including it), as
# "path:line:col: check" (path from the top). run-clang-tidy-14 always asks for colour: strip it.
sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E '^/.*: (warning|error): ' | sort -u > "$out.findings" || true
sed -E "s|^$ROOT/||; s/^([^:]+:[0-9]+:[0-9]+): (warning|error): .*\[([^],]+).*\]\$/\1: \3/" \
  "$out.findings" | sort -u > "$out.keys"
# tests/tidy-pending.txt: findings in files other people were rewriting when this stage came in;
# reported, not failing. The list may only shrink: an entry that no longer matches fails too.
pending="$ROOT/tests/tidy-pending.txt"
# (A subset run, TIDY_FILES, only holds the entries of the files it checked.)
grep -vE '^\s*(#|$)' "$pending" 2>/dev/null | sed 's/\s*#.*//' | grep -E "^(${TIDY_FILES:-.})" \
  | sort -u > "$out.pending" || true
new=$(comm -23 "$out.keys" "$out.pending")
stale=$(comm -13 "$out.keys" "$out.pending")
known=$(comm -12 "$out.keys" "$out.pending")
[[ -n "$known" ]] && echo "tidy.sh: $(wc -l <<< "$known") pending finding(s) listed in tests/tidy-pending.txt (to fix)"
fail=0
if [[ -n "$new" ]]; then
  echo "$new" | while IFS= read -r k; do grep -F "$ROOT/${k%%: *}: " "$out.findings" || echo "$k"; done
  echo "tidy.sh: $(wc -l <<< "$new") finding(s) (full output: $out)"; fail=1
fi
if [[ -n "$stale" ]]; then
  echo "$stale" | sed 's/^/  stale: /'
  echo "tidy.sh: tests/tidy-pending.txt lists findings that are gone or moved: delete or fix them"; fail=1
fi
if [[ $rc -ne 0 && -z "$new" && -z "$known" ]]; then
  tail -50 "$out"; echo "tidy.sh: run-clang-tidy failed (exit $rc) without a finding"; fail=1
fi
((fail == 0)) && echo "tidy.sh: clean"
exit $fail
