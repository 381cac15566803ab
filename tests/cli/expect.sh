#!/usr/bin/env bash
# Runs a command and checks its exit code and output (stdout and stderr together):
#   expect.sh RC [--has TEXT | --lacks TEXT]... -- COMMAND [ARG...]
# Prints the output, then what did not match; exits 1 on any mismatch.
set -u
want_rc="$1"; shift
declare -a has=() lacks=()
while [[ $# -gt 0 && "$1" != "--" ]]; do
  case "$1" in
    --has) has+=("$2"); shift 2 ;;
    --lacks) lacks+=("$2"); shift 2 ;;
    *) echo "expect.sh: unknown argument '$1'" >&2; exit 1 ;;
  esac
done
shift  # --
out="$("$@" 2>&1)"; rc=$?
printf '%s\n' "$out"
fail=0
[[ "$rc" -eq "$want_rc" ]] || { echo "expect.sh: exit code $rc, expected $want_rc"; fail=1; }
for t in "${has[@]}"; do
  grep -qF -- "$t" <<<"$out" || { echo "expect.sh: output lacks: $t"; fail=1; }
done
for t in "${lacks[@]}"; do
  grep -qF -- "$t" <<<"$out" && { echo "expect.sh: output must not contain: $t"; fail=1; }
done
exit "$fail"
