#!/usr/bin/env bash
# The one command that installs what is needed, builds, and runs every test (unit, mpi, cli).
# CI (.ci/run) runs exactly this. Then the configuration without ISA-L and libdeflate (zlib does
# their work, as on a cluster that has neither): built in ZLIB_BUILD_DIR (default build-zlib), its
# unit tests and two end-to-end conversions (.nii.gz decoding on 1-4 ranks; --compression).
# Extra arguments go to the first ctest only; DWIPACK_TEST_ZLIB=0 skips the second configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/check_format.sh
BUILD_DIR=${BUILD_DIR:-build} scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j2 "$@"

[ "${DWIPACK_TEST_ZLIB:-1}" = 1 ] || exit 0
ZLIB_BUILD_DIR=${ZLIB_BUILD_DIR:-build-zlib}
BUILD_DIR=$ZLIB_BUILD_DIR scripts/build.sh -DDWIPACK_WITH_ISAL=OFF -DDWIPACK_WITH_LIBDEFLATE=OFF
if ldd "$ZLIB_BUILD_DIR/bin/dwipack" | grep -E "libisal|libdeflate"; then
  echo "test.sh: $ZLIB_BUILD_DIR/bin/dwipack links ISA-L or libdeflate; it must use zlib alone" >&2
  exit 1
fi
ctest --test-dir "$ZLIB_BUILD_DIR" --output-on-failure -j2 -L unit
ctest --test-dir "$ZLIB_BUILD_DIR" --output-on-failure -j2 -R '^(mpi_convert|mpi_compression)$'
