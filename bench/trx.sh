#!/usr/bin/env bash
# TRX against .trk: one subject with N streamlines of ~POINTS points (plus a small reference volume),
# written by `dwipack synth` twice with the same seed, once as .trk and once as .trx (a stored ZIP,
# float32 positions: the same streamlines), and converted by `dwipack create` on 1 rank, 3 times
# each, interleaved. Prints the median wall time, CPU time (user + system, all threads) and peak
# RSS of both and their ratios (the TRX target: at least as fast as the .trk). Wall times are
# those of the whole conversion, writing included; on a busy machine the CPU times compare better. With --deflated, also a deflated copy of the .trx
# (Python's zipfile, level 1), and with --folder an unzipped one.
#   bench/trx.sh [STREAMLINES] [MEAN_POINTS] [--deflated] [--folder]     (defaults 1000000 100)
set -euo pipefail
if [ -n "${DWIPACK:-}" ] && [[ $DWIPACK == */* ]]; then DWIPACK=$(realpath -m "$DWIPACK"); fi
cd "$(dirname "$0")/.."
N=1000000 POINTS=100 EXTRA=()
positional=()
for arg in "$@"; do
  case $arg in
  --deflated) EXTRA+=(deflated) ;;
  --folder) EXTRA+=(folder) ;;
  *) positional+=("$arg") ;;
  esac
done
[ ${#positional[@]} -lt 1 ] || N=${positional[0]}
[ ${#positional[@]} -lt 2 ] || POINTS=${positional[1]}
source bench/lib.sh
bench_dwipack
bench_need_packages time python3-h5py
WORK=$(mktemp -d /tmp/dwipack-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# synth splits its streamlines over bundle_a and bundle_b: 2N gives bundle_a N streamlines.
for f in trk trx; do
  "$DWIPACK" synth "$WORK/$f" --subjects 1 --shape 96,114,96 --frames 1 --streamlines "$((2 * N))" \
    --mean_points "$POINTS" --gzip_level 1 --bundle_format "$f" >/dev/null
done
T=$WORK/trx/dwi_ml_ready/sub-01/tractography
rm -f "$WORK"/*/dwi_ml_ready/sub-01/tractography/{bundle_b.*,whole.tck} # not used: room on the disk
FORMATS=(trk trx)
for e in "${EXTRA[@]}"; do
  case $e in
  deflated)
    /usr/bin/python3 - "$T/bundle_a.trx" "$T/bundle_a_deflated.trx" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
    for info in src.infolist():
        with src.open(info) as f, dst.open(info.filename, 'w', force_zip64=True) as g:
            while chunk := f.read(1 << 24):
                g.write(chunk)
PY
    FORMATS+=(trx_deflated) ;;
  folder)
    mkdir "$T/bundle_a_folder.trx"
    (cd "$T/bundle_a_folder.trx" && unzip -q ../bundle_a.trx)
    FORMATS+=(trx_folder) ;;
  esac
done
for f in "${FORMATS[@]}"; do
  src=$WORK/trx/dwi_ml_ready
  file=tractography/bundle_a${f#trx}.trx
  [ "$f" != trk ] || { src=$WORK/trk/dwi_ml_ready; file=tractography/bundle_a.trk; }
  printf '{"ref": {"type": "volume", "files": "masks/wm.nii.gz", "standardization": "none"},\n "streamlines": {"type": "streamlines", "files": "%s"}}\n' \
    "$file" > "$WORK/$f.json"
  echo "$src" > "$WORK/$f.src"
done
echo sub-01 > "$WORK/list.txt"; : > "$WORK/empty.txt"

measure() { # command... -> "wall_s rss_MiB user_s sys_s" (CPU of all threads)
  /usr/bin/time -f '%e %M %U %S' -o "$WORK/time.txt" "$@" >/dev/null 2>"$WORK/err.txt" || { cat "$WORK/err.txt"; exit 1; }
  read -r wall rss_kb user sys < "$WORK/time.txt"
  echo "$wall $((rss_kb / 1024)) $user $sys"
}
declare -A RUNS
for _ in 1 2 3; do
  for f in "${FORMATS[@]}"; do
    src=$(cat "$WORK/$f.src")
    find "$src/sub-01/tractography" -path '*bundle_a*' -type f -exec cat {} + >/dev/null # warm page cache
    rm -f "$WORK/out.hdf5"; sync; sleep 1
    RUNS[$f]+="$(measure "$DWIPACK" create "$src" "$WORK/out.hdf5" "$WORK/$f.json" "$WORK/list.txt" "$WORK/empty.txt" "$WORK/empty.txt");"
  done
done
points=$(/usr/bin/python3 -c "import h5py; print(h5py.File('$WORK/out.hdf5')['sub-01/streamlines/data'].shape[0])")
for f in "${FORMATS[@]}"; do echo "$f runs (wall s, peak RSS MiB, user s, system s): ${RUNS[$f]}"; done
args=()
for f in "${FORMATS[@]}"; do
  path=$(cat "$WORK/$f.src")/sub-01/tractography/bundle_a.trk
  [ "$f" = trk ] || path=$(cat "$WORK/$f.src")/sub-01/tractography/bundle_a${f#trx}.trx
  args+=("$f" "${RUNS[$f]}" "$(du -sb "$path" | cut -f1)")
done
/usr/bin/python3 - "$N" "$points" "${args[@]}" <<'PY'
import statistics, sys
n, points = int(sys.argv[1]), int(sys.argv[2])
rows = {}
for name, runs, size in zip(sys.argv[3::3], sys.argv[4::3], sys.argv[5::3]):
    runs = [tuple(map(float, r.split())) for r in runs.split(';') if r]
    wall = statistics.median(r[0] for r in runs)
    rss = next(r[1] for r in runs if r[0] == wall)
    cpu = statistics.median(r[2] + r[3] for r in runs)
    rows[name] = (wall, rss, int(size), cpu)
print(f"streamlines: {n}, points: {points}, float32 point data: {points * 12 / 2**20:.0f} MiB")
print(f"{'input':16}{'file MiB':>10}{'wall s':>10}{'vs .trk':>10}{'CPU s':>10}{'vs .trk':>10}{'peak RSS MiB':>14}")
for name, (wall, rss, size, cpu) in rows.items():
    print(f"{name:16}{size / 2**20:10.0f}{wall:10.2f}{rows['trk'][0] / wall:9.2f}x{cpu:10.2f}"
          f"{rows['trk'][3] / cpu:9.2f}x{rss:14.0f}")
ratio = rows['trk'][0] / rows['trx'][0]
print(f"TRX (stored) / .trk speed: {ratio:.2f}x   (target >= 1: {'PASS' if ratio >= 1 else 'GAP'})")
PY
