#!/usr/bin/env bash
# The code keeps the shape docs/design.md gives it: modules include only what the module table
# allows, and no function in src/pipeline/ is longer than 80 lines.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"${PYTHON:-/usr/bin/python3}" "$here/../python/check_structure.py"
