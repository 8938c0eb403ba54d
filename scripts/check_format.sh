#!/usr/bin/env bash
# Fail if a C++ file is not formatted with the project's .clang-format (clang-format 14).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cpp' '*.hpp' '*.hpp.in' 2>/dev/null || find src include tests -name '*.[ch]pp')
bad=()
for f in $files; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "check_format: not formatted (run: clang-format -i FILE): ${bad[*]}" >&2
  exit 1
fi
echo "check_format: $(wc -w <<<"$files") files formatted"
