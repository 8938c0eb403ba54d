#!/usr/bin/env bash
# Configure and build dwipack into BUILD_DIR (default: build/). Extra arguments go to cmake.
#   scripts/build.sh                         Release build, tests included
#   BUILD_DIR=build-asan scripts/build.sh -DCMAKE_BUILD_TYPE=Debug -DDWIPACK_SANITIZE=address,undefined
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
# Of the configure output, only dwipack's summary (what was found, which optional parts are off).
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DDWIPACK_WARNINGS_AS_ERRORS=ON "$@" |
  sed -n '/^-- dwipack [0-9]/,/^-- *$/p'
cmake --build "$BUILD_DIR" -j"$(nproc)"
echo "build: $BUILD_DIR/bin/dwipack"
