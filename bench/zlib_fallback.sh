#!/usr/bin/env bash
# The speed cost of building without ISA-L and libdeflate (zlib does their work): the same
# conversions with a default build and with a zlib-only one, on the same generated subjects, one
# process (no mpirun: the cost per core), page cache warm, best of RUNS (default 3) wall times:
#   volumes      the DWI (.nii.gz, gzip level 6, float32) of every subject, standardization none:
#                gzip decoding is most of the work
#   streamlines  the .trk bundles: the CRC-32s of the points (for --resume) are the only gzip part
#   compression  the volumes with --compression gzip (level 4): deflate is most of the work
# Usage: bench/zlib_fallback.sh [FAST_BUILD [ZLIB_BUILD]]   (default: build and build-zlib; each
# is configured and built by scripts/build.sh when it has no bin/dwipack). Prints a table and the
# ratios, and checks that both builds' files hold the same data; WORK_DIR (default a temporary
# folder, removed at the end) holds the data and the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
FAST_BUILD=${1:-build} ZLIB_BUILD=${2:-build-zlib} RUNS=${RUNS:-3}
[ -x "$FAST_BUILD/bin/dwipack" ] || BUILD_DIR=$FAST_BUILD scripts/build.sh >&2
[ -x "$ZLIB_BUILD/bin/dwipack" ] ||
  BUILD_DIR=$ZLIB_BUILD scripts/build.sh -DDWIPACK_WITH_ISAL=OFF -DDWIPACK_WITH_LIBDEFLATE=OFF >&2
FAST=$(realpath "$FAST_BUILD/bin/dwipack") SLOW=$(realpath "$ZLIB_BUILD/bin/dwipack")
for b in "$FAST" "$SLOW"; do
  if [ "$b" = "$SLOW" ] && ldd "$b" | grep -qE "libisal|libdeflate"; then
    echo "bench: $b links ISA-L or libdeflate: configure $ZLIB_BUILD with both off" >&2
    exit 1
  fi
done
bench_need_packages time

WORK=${WORK_DIR:-$(mktemp -d /tmp/dwipack-zlib-bench-XXXXXX)}
[ -n "${WORK_DIR:-}" ] || trap 'rm -rf "$WORK"' EXIT
D=$WORK/data
if [ ! -d "$D" ]; then
  # 4 subjects of 96x114x96 to 102x120x102 voxels x 32 frames (float32): 0.55 GB of DWI
  "$FAST" synth "$D" --subjects 4 --shape 96,114,96 --shape_step 2 --frames 32 --streamlines 200000 \
    --mean_points 60 >/dev/null
fi
LISTS=("$D/training_subjs.txt" "$D/validation_subjs.txt" "$D/testing_subjs.txt")
echo '{"dwi": {"type": "volume", "files": "dwi/dwi.nii.gz", "standardization": "none"}}' >"$WORK/volumes.json"
echo '{"bundles": {"type": "streamlines", "files": ["tractography/bundle_*.trk"]}}' >"$WORK/streamlines.json"
LOAD=$(cut -d' ' -f1 /proc/loadavg)
bench_warm "$D"/dwi_ml_ready/*/dwi/dwi.nii.gz "$D"/dwi_ml_ready/*/tractography/bundle_*.trk
gz_bytes=$(cat "$D"/dwi_ml_ready/*/dwi/dwi.nii.gz | wc -c)
trk_bytes=$(cat "$D"/dwi_ml_ready/*/tractography/bundle_*.trk | wc -c)

# best NAME BINARY CONFIG [options]: the best wall and the best CPU (user + sys) times of RUNS
# conversions, in seconds ("WALL CPU"); CPU time is the steadier figure on a busy machine.
best() {
  local name=$1 binary=$2 config=$3 i
  shift 3
  for i in $(seq "$RUNS"); do
    rm -f "$WORK/$name.hdf5" "$WORK/$name.json"
    bench_timed "$WORK" "$name.$i" "$binary" create "$D/dwi_ml_ready" "$WORK/$name.hdf5" "$config" "${LISTS[@]}" "$@"
  done
  cat "$WORK/$name".*.time | awk 'NR == 1 || $1 < w {w = $1} NR == 1 || $2 + $3 < c {c = $2 + $3} END {print w, c}'
}

printf '%-12s %9s %9s %9s %9s %9s %9s\n' run "fast s" "zlib s" zlib/fast "fast cpu" "zlib cpu" zlib/fast
row() {
  local name=$1 config=$2 fast slow
  shift 2
  fast=$(best "$name-fast" "$FAST" "$config" "$@")
  slow=$(best "$name-zlib" "$SLOW" "$config" "$@")
  echo "$name $fast $slow" | awk '{printf "%-12s %9.2f %9.2f %8.2fx %9.2f %9.2f %8.2fx\n", $1, $2, $4, $4 / $2, $3, $5, $5 / $3}'
}
row volumes "$WORK/volumes.json"
row streamlines "$WORK/streamlines.json"
row compression "$WORK/volumes.json" --compression gzip
# The two builds' files hold the same data (h5py, tests/python/same_content.py; the run's date aside).
for name in volumes streamlines compression; do
  /usr/bin/python3 tests/python/same_content.py "$WORK/$name-fast.hdf5" "$WORK/$name-zlib.hdf5" \
    --also-ignore data_and_time >/dev/null || { echo "bench: $name: the two builds' files differ" >&2; exit 1; }
done
echo "same content from both builds; --compression file: $(stat -c %s "$WORK/compression-fast.hdf5") bytes" \
  "(fast), $(stat -c %s "$WORK/compression-zlib.hdf5") bytes (zlib)"
raw_bytes=$(for f in "$D"/dwi_ml_ready/*/dwi/dwi.nii.gz; do gzip -dc "$f" | wc -c; done | awk '{s += $1} END {print s}')
echo "data: $(awk -v b="$raw_bytes" -v g="$gz_bytes" 'BEGIN {printf "%.2f GB of NIfTI (%.2f GB gzipped)", b / 1e9, g / 1e9}')," \
  "$(awk -v b="$trk_bytes" 'BEGIN {printf "%.2f", b / 1e9}') GB of .trk; best of $RUNS; $(nproc) cores;" \
  "load average before: $LOAD; fast: $("$FAST" --version), zlib: $("$SLOW" --version)"
