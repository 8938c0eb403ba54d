#!/usr/bin/env bash
# Streamline benchmark (issue 3): one subject with a 1M-streamline .trk of ~100 points per
# streamline (plus a small reference volume), converted by dwi_ml's Python path (bench/python_baseline.py:
# the same nibabel/dipy/h5py calls) and by `dwipack create` on 1 rank, side by side in one run.
# Prints wall time, peak RSS and the ratios.
#   bench/streamlines.sh [STREAMLINES] [MEAN_POINTS]     (defaults 1000000 100)
set -euo pipefail
# a relative $DWIPACK is relative to the caller's folder
if [ -n "${DWIPACK:-}" ] && [[ $DWIPACK == */* ]]; then DWIPACK=$(realpath -m "$DWIPACK"); fi
cd "$(dirname "$0")/.."
N=${1:-1000000}
POINTS=${2:-100}
source bench/lib.sh
bench_dwipack # $DWIPACK, else build/bin/dwipack (built when missing)
bench_need_packages time python3-h5py python3-nibabel python3-dipy
WORK=$(mktemp -d /tmp/dwipack-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

"$DWIPACK" synth "$WORK/d" --subjects 1 --shape 96,114,96 --frames 1 --streamlines "$((2 * N))" --mean_points "$POINTS" \
  --gzip_level 1 >/dev/null
D=$WORK/d
# Only what this benchmark is about: the reference volume and one .trk group (synth splits its
# streamlines over bundle_a.trk and bundle_b.trk, hence 2N above).
cat > "$D/bench.json" <<'JSON'
{"ref": {"type": "volume", "files": "masks/wm.nii.gz", "standardization": "none"},
 "streamlines": {"type": "streamlines", "files": "tractography/bundle_a.trk"}}
JSON
echo sub-01 > "$D/list.txt"; : > "$D/empty.txt"
trk_bytes=$(stat -c %s "$D/dwi_ml_ready/sub-01/tractography/bundle_a.trk")

measure() { # OUT_JSON_VAR command... : wall seconds and peak RSS (MB) via GNU time
  /usr/bin/time -f '%e %M' -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/err.txt" || { cat "$WORK/err.txt"; exit 1; }
  read -r wall rss_kb < "$WORK/time.txt"
  echo "$wall $((rss_kb / 1024))"
}
bench_warm "$D/dwi_ml_ready/sub-01/tractography/bundle_a.trk" "$D/dwi_ml_ready/sub-01/masks/wm.nii.gz" # warm page cache
sync; sleep 1
read -r py_wall py_rss < <(measure /usr/bin/python3 bench/python_baseline.py "$D/dwi_ml_ready" "$WORK/py.hdf5" "$D/bench.json" sub-01)
# dwipack is fast enough to run 3 times: the median is reported (this VM's page cache is noisy).
runs=()
for _ in 1 2 3; do
  rm -f "$WORK/dw.hdf5"; sync; sleep 1
  runs+=("$(measure "$DWIPACK" create "$D/dwi_ml_ready" "$WORK/dw.hdf5" "$D/bench.json" "$D/list.txt" "$D/empty.txt" "$D/empty.txt")")
done
read -r dw_wall dw_rss < <(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)
echo "dwipack runs (wall s, peak RSS MiB): ${runs[*]}"
points=$(/usr/bin/python3 -c "import h5py; print(h5py.File('$WORK/dw.hdf5')['sub-01/streamlines/data'].shape[0])")
/usr/bin/python3 - "$py_wall" "$py_rss" "$dw_wall" "$dw_rss" "$trk_bytes" "$points" "$N" <<'PY'
import sys
py_wall, py_rss, dw_wall, dw_rss, trk_bytes, points, n = map(float, sys.argv[1:])
point_mb = points * 12 / 2**20
print(f"streamlines: {int(n)}, points: {int(points)}, .trk: {trk_bytes / 2**20:.0f} MiB, float32 point data: {point_mb:.0f} MiB")
print(f"{'':24}{'wall s':>10}{'peak RSS MiB':>14}")
print(f"{'dwi_ml Python path':24}{py_wall:10.2f}{py_rss:14.0f}")
print(f"{'dwipack, 1 rank':24}{dw_wall:10.2f}{dw_rss:14.0f}")
print(f"speed-up (Python / dwipack): {py_wall / dw_wall:.1f}x   (target >= 20x)")
print(f"dwipack .trk throughput: {trk_bytes / dw_wall / 1e9:.2f} GB/s (end to end, incl. planning pass and write)")
print(f"dwipack peak RSS / point data: {dw_rss / point_mb:.2f}   (target < 1.5)")
PY
