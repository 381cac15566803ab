#!/usr/bin/env bash
# Fails when a C++ file differs from what clang-format (the committed .clang-format) makes of it.
#   scripts/check-format.sh          check (CI)
#   scripts/check-format.sh --fix    reformat in place
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v clang-format > /dev/null || { echo "check-format: clang-format missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
if [[ "${1:-}" == "--fix" ]]; then clang-format -i "${files[@]}"; exit 0; fi
bad=()
for f in "${files[@]}"; do clang-format --dry-run -Werror "$f" > /dev/null 2>&1 || bad+=("$f"); done
if (( ${#bad[@]} )); then
  printf 'check-format: not formatted: %s\n' "${bad[@]}" >&2
  echo "check-format: run scripts/check-format.sh --fix" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted ($(clang-format --version | grep -o 'version [0-9.]*'))"
