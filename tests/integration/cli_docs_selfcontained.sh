#!/usr/bin/env bash
# The repository explains itself: no tracked file points at notes outside it (../shared/..., "spec §",
# "toolchain notes"), the README (written for users) names no issue numbers, and every citation of
# docs/format.md or docs/toolchain.md, and every "§N" inside those two files, names a section that
# exists. Reads the working tree's tracked files (git ls-files); builds nothing.
set -euo pipefail
: "${PYTHON:=/usr/bin/python3}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null) ||
  { echo "FAIL: $HERE is not in a git checkout (git ls-files lists the files to check)" >&2; exit 1; }
SELF=tests/integration/cli_docs_selfcontained.sh

ALLOWED_FOR_NOW=()

cd "$REPO"
"$PYTHON" - "$SELF" "${ALLOWED_FOR_NOW[@]}" <<'EOF'
import re, subprocess, sys

self_path, allowed = sys.argv[1], set(sys.argv[2:])
files = subprocess.run(["git", "ls-files", "-z"], capture_output=True, check=True).stdout.decode().split("\0")
files = [f for f in files if f]

def text_of(path):
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except (FileNotFoundError, IsADirectoryError):
        return None  # deleted in the working tree, or a submodule
    if b"\0" in data:
        return None  # binary
    return data.decode("utf-8", errors="replace")

problems = []

# 1. No pointer to notes that live outside the repository.
outside = re.compile(r"\.\./shared|shared/(notes|spec|seed)|dwi_ml_format\.md|spec §|toolchain notes"
                     r"|(^|[^/\w])toolchain\.md")
for path in files:
    if path == self_path or path in allowed:
        continue
    text = text_of(path)
    if text is None:
        continue
    for number, line in enumerate(text.splitlines(), 1):
        if outside.search(line):
            problems.append(f"{path}:{number}: points outside the repository: {line.strip()}")

# 2. The README speaks to users: no issue numbers.
for number, line in enumerate((text_of("README.md") or "").splitlines(), 1):
    if re.search(r"\bissues? *#? *[0-9]+", line, re.IGNORECASE):
        problems.append(f"README.md:{number}: names an issue: {line.strip()}")

# 3. Citations name sections that exist ("## N. Title" / "### N.M Title" headings).
def sections(path):
    found = set()
    for line in (text_of(path) or "").splitlines():
        m = re.match(r"#{2,4} ([0-9]+(?:\.[0-9]+)*)\.? ", line)
        if m:
            found.add(m.group(1))
    return found

docs = {name: sections(f"docs/{name}") for name in ("format.md", "toolchain.md")}
for name, found in docs.items():
    if not found:
        problems.append(f"docs/{name}: missing, or without numbered sections")
cited = re.compile(r"docs/(format|toolchain)\.md §([0-9]+(?:\.[0-9]+)*)")
for path in files:
    text = text_of(path)
    if text is None or path == self_path:
        continue
    for number, line in enumerate(text.splitlines(), 1):
        for m in cited.finditer(line):
            if m.group(2) not in docs[m.group(1) + ".md"]:
                problems.append(f"{path}:{number}: docs/{m.group(1)}.md has no section §{m.group(2)}")
        if path in ("docs/format.md", "docs/toolchain.md"):
            # a bare §N inside a doc is one of its own sections
            for m in re.finditer(r"(?<![\w./]\.md )§([0-9]+(?:\.[0-9]+)*)", line):
                if m.group(1) not in docs[path[len("docs/"):]]:
                    problems.append(f"{path}:{number}: no section §{m.group(1)} in this file")

if problems:
    print("\n".join(problems), file=sys.stderr)
    print(f"FAIL: {len(problems)} problem(s)", file=sys.stderr)
    sys.exit(1)
print(f"ok: {len(files)} tracked files self-contained; README names no issue; "
      f"citations match docs/format.md ({len(docs['format.md'])} sections) and "
      f"docs/toolchain.md ({len(docs['toolchain.md'])} sections)")
EOF
