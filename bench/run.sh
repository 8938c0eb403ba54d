#!/usr/bin/env bash
# The dwipack benchmark (issue 7), in one run:
#   1. generate a dataset with `dwipack synth` (one call per subject, so that both the volume
#      shapes and the streamline counts differ between subjects);
#   2. measure the machine's limits on the same files (bench/limits.c: libdeflate decode,
#      .trk walk, memcpy, sequential write + fsync);
#   3. convert it with dwi_ml's Python path (bench/python_baseline.py, one process);
#   4. convert it with `dwipack create` on 1 rank (no mpirun) and with `mpirun -n 3`
#      (1 coordinator + 2 workers), plus 1-rank runs of the volume groups alone and of the
#      streamline group alone (the per-path rates);
#   5. print one table with the ratios and PASS/GAP per target of issue 7 (bench/report.py), and
#      write the same as JSON.
#
#   bench/run.sh [--subjects N] [--streamlines N] [--mean_points N] [--shape X,Y,Z] [--frames F]
#                [--shape_step S] [--repeat R] [--ranks N] [--json PATH] [--workdir DIR]
#                [--keep] [--skip-python] [--perf] [--note TEXT]
#
# Defaults (the issue's scale): 4 subjects around 96x114x96 voxels (--shape_step 6 between
# subjects) x 64 frames, 1M streamlines of ~100 points per subject on average (1.25M down to
# 0.75M), dwipack runs repeated 3 times (median). Every option can also be set in the
# environment: BENCH_SUBJECTS, BENCH_STREAMLINES, BENCH_MEAN_POINTS, BENCH_SHAPE, BENCH_FRAMES,
# BENCH_SHAPE_STEP, BENCH_REPEAT, BENCH_RANKS, BENCH_JSON, BENCH_WORKDIR, BENCH_NOTE (--note: a
# remark recorded in the table and the JSON, e.g. which commit the binary was built from).
# Quick smoke test: bench/run.sh --subjects 2 --streamlines 200000 --repeat 1
# dwipack is $DWIPACK, else build/bin/dwipack (built with scripts/build.sh when missing).
# See bench/README.md for what each figure means.
set -euo pipefail
CALLER_DIR=$PWD # relative --json / --workdir paths are relative to where the script was called from
# a relative $DWIPACK is relative to the caller's folder
if [ -n "${DWIPACK:-}" ] && [[ $DWIPACK == */* ]]; then DWIPACK=$(realpath -m "$DWIPACK"); fi
cd "$(dirname "$0")/.."
source bench/lib.sh
T_START=$(date +%s.%N)

SUBJECTS=${BENCH_SUBJECTS:-4}
STREAMLINES=${BENCH_STREAMLINES:-1000000}
MEAN_POINTS=${BENCH_MEAN_POINTS:-100}
SHAPE=${BENCH_SHAPE:-96,114,96}
FRAMES=${BENCH_FRAMES:-64}
SHAPE_STEP=${BENCH_SHAPE_STEP:-6}
REPEAT=${BENCH_REPEAT:-3}
RANKS=${BENCH_RANKS:-3}
JSON_OUT=${BENCH_JSON:-}
WORKDIR=${BENCH_WORKDIR:-}
KEEP=0
SKIP_PYTHON=0
PERF=0
NOTE=${BENCH_NOTE:-}
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --subjects) SUBJECTS=$2; shift 2 ;;
    --streamlines) STREAMLINES=$2; shift 2 ;;
    --mean_points) MEAN_POINTS=$2; shift 2 ;;
    --shape) SHAPE=$2; shift 2 ;;
    --frames) FRAMES=$2; shift 2 ;;
    --shape_step) SHAPE_STEP=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --ranks) RANKS=$2; shift 2 ;;
    --json) JSON_OUT=$2; shift 2 ;;
    --workdir) WORKDIR=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --skip-python) SKIP_PYTHON=1; shift ;;
    --perf) PERF=1; shift ;;
    --note) NOTE=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "bench/run.sh: unknown argument '$1'" >&2; usage 2 >&2 ;;
  esac
done
IFS=, read -r SX SY SZ <<<"$SHAPE"
for v in SUBJECTS STREAMLINES MEAN_POINTS SX SY SZ FRAMES SHAPE_STEP REPEAT RANKS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "bench/run.sh: $v must be a non-negative integer, got '${!v}'" >&2; exit 2; }
done
((SUBJECTS >= 1 && REPEAT >= 1 && RANKS >= 2 && FRAMES >= 1)) || { echo "bench/run.sh: need subjects, repeat, frames >= 1 and ranks >= 2" >&2; exit 2; }
((STREAMLINES >= 2)) || { echo "bench/run.sh: --streamlines must be at least 2" >&2; exit 2; }
((MEAN_POINTS >= 2)) || { echo "bench/run.sh: --mean_points must be at least 2" >&2; exit 2; }
if [ -z "$JSON_OUT" ]; then
  JSON_OUT=$PWD/bench/results-$(date +%Y-%m-%d_%H%M).json
else
  JSON_OUT=$(cd "$CALLER_DIR" && realpath -m "$JSON_OUT")
fi
[ -z "$WORKDIR" ] || WORKDIR=$(cd "$CALLER_DIR" && realpath -m "$WORKDIR")

bench_need_packages time gcc libdeflate-dev openmpi-bin python3-h5py python3-numpy python3-nibabel python3-dipy
[ "$PERF" = 0 ] || bench_need_packages linux-perf
bench_dwipack
PY=/usr/bin/python3

# --------------------------------------------------------------------------- work folders
bench_workdir bench
D=$WORK/data       # the dataset: dwi_ml_ready/, configs, lists
O=$WORK/out        # outputs of the conversions (deleted as soon as they are measured)
R=$WORK/results    # timings and the figures the report reads
mkdir -p "$D/dwi_ml_ready" "$O" "$R" "$WORK/gen"
elapsed() { awk -v now="$(date +%s.%N)" -v start="$T_START" 'BEGIN { printf "%.1f", now - start }'; }
step() { echo "== [$(elapsed) s] $1"; }

# --------------------------------------------------------------------------- 1. the dataset
step "1/5 generating $SUBJECTS subjects with dwipack synth"
# Subject i (0-based) has shape SHAPE + SHAPE_STEP * (i - (n-1)/2) on every axis (uneven volumes
# centred on SHAPE) and STREAMLINES * (1.25 - 0.5 i / (n-1)) streamlines (1.25x down to 0.75x, so
# the largest volume has the fewest streamlines; the mean is STREAMLINES). synth splits them over
# bundle_a.trk and bundle_b.trk; its whole.tck and connectivity.npy are not used and are deleted.
gen_subject() {
  local i=$1 id off n
  id=$(printf 'sub-%02d' $((i + 1)))
  off=$((SHAPE_STEP * (i - (SUBJECTS - 1) / 2)))
  n=$STREAMLINES
  ((SUBJECTS == 1)) || n=$((STREAMLINES * (5 * (SUBJECTS - 1) - 2 * i) / (4 * (SUBJECTS - 1))))
  ((n >= 2)) || n=2 # synth's minimum (one streamline per bundle)
  "$DWIPACK" synth "$WORK/gen/$id" --subjects 1 --shape "$((SX + off)),$((SY + off)),$((SZ + off))" \
    --frames "$FRAMES" --streamlines "$n" --mean_points "$MEAN_POINTS" --seed "$((i + 1))" >/dev/null
  mv "$WORK/gen/$id/dwi_ml_ready/sub-01" "$D/dwi_ml_ready/$id"
  rm -f "$D/dwi_ml_ready/$id/tractography/whole.tck" "$D/dwi_ml_ready/$id/tractography/connectivity.npy"
  rm -rf "${WORK:?}/gen/$id"
}
JOBS=$(nproc)
for ((i = 0; i < SUBJECTS; i++)); do
  gen_subject "$i" &
  while (($(jobs -rp | wc -l) >= JOBS)); do wait -n; done
done
wait
IDS=()
for ((i = 0; i < SUBJECTS; i++)); do
  id=$(printf 'sub-%02d' $((i + 1)))
  [ -f "$D/dwi_ml_ready/$id/tractography/bundle_b.trk" ] || { echo "bench: generating $id failed" >&2; exit 1; }
  IDS+=("$id")
done
NII=("$D"/dwi_ml_ready/*/*/*.nii.gz)
TRK=("$D"/dwi_ml_ready/*/tractography/*.trk)
MASKS=("$D"/dwi_ml_ready/*/masks/wm.nii.gz)
printf '%s\n' "${IDS[@]}" >"$D/subjects.txt"
: >"$D/empty.txt"
# The configs: the whole job as dwi_ml users write it (a DWI + T1 input group standardized per file
# within the WM mask, the mask itself, one streamline group of both .trk files), and its two
# halves for the per-path rates (the streamline half keeps the small mask as its reference volume).
cat >"$D/full.json" <<'JSON'
{"input": {"type": "volume", "files": ["dwi/dwi.nii.gz", "anat/t1.nii.gz"],
           "standardization": "per_file", "std_mask": ["masks/wm.nii.gz"]},
 "wm_mask": {"type": "volume", "files": ["masks/wm.nii.gz"], "standardization": "none"},
 "streamlines": {"type": "streamlines", "files": ["tractography/bundle_*.trk"]}}
JSON
cat >"$D/volumes.json" <<'JSON'
{"input": {"type": "volume", "files": ["dwi/dwi.nii.gz", "anat/t1.nii.gz"],
           "standardization": "per_file", "std_mask": ["masks/wm.nii.gz"]},
 "wm_mask": {"type": "volume", "files": ["masks/wm.nii.gz"], "standardization": "none"}}
JSON
cat >"$D/streamlines.json" <<'JSON'
{"wm_mask": {"type": "volume", "files": ["masks/wm.nii.gz"], "standardization": "none"},
 "streamlines": {"type": "streamlines", "files": ["tractography/bundle_*.trk"]}}
JSON
sync # the generated files reach the disk now, not during a timed run

# --------------------------------------------------------------------------- 2. the limits
step "2/5 measuring the machine's limits on these files"
cc -O2 -o "$WORK/limits" bench/limits.c -ldeflate -lm
bench_warm "${NII[@]}" "${TRK[@]}"
# the .trk walk runs on the first subject's files (the most streamlines), the decode on every NIfTI
"$WORK/limits" --reps 3 --write-mb 1024 --write-dir "$WORK" \
  --trk "$D/dwi_ml_ready/${IDS[0]}/tractography/bundle_a.trk" --trk "$D/dwi_ml_ready/${IDS[0]}/tractography/bundle_b.trk" \
  "${NII[@]}" >"$R/limits.json"
sync

# --------------------------------------------------------------------------- 3-4. the runs
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mpi_yield_when_idle=1
export SOURCE_DATE_EPOCH=1700000000 # identical content from every run (checked below)
lists=("$D/subjects.txt" "$D/empty.txt" "$D/empty.txt")

# run_one NAME TAG: one timed conversion NAME, its figures saved as RESULTS/TAG.*; the previous
# output is deleted and the disk synced first, then the run's inputs are read (warm page cache).
run_one() {
  local name=$1 tag=$2
  rm -f "$O/$name.hdf5" "$O/$name.json"
  sync
  case $name in
    python)
      bench_warm "${NII[@]}" "${TRK[@]}"
      bench_timed "$R" "$tag" "$PY" bench/python_baseline.py "$D/dwi_ml_ready" "$O/$name.hdf5" "$D/full.json" "${IDS[@]}" ;;
    one)
      bench_warm "${NII[@]}" "${TRK[@]}"
      bench_timed "$R" "$tag" "$DWIPACK" create "$D/dwi_ml_ready" "$O/$name.hdf5" "$D/full.json" "${lists[@]}" ;;
    onecore) # 1 rank held to one core: no helper threads (mpi::cores_per_worker), the per-core baseline
      bench_warm "${NII[@]}" "${TRK[@]}"
      bench_timed "$R" "$tag" taskset -c 0 "$DWIPACK" create "$D/dwi_ml_ready" "$O/$name.hdf5" "$D/full.json" "${lists[@]}" ;;
    mpi)
      bench_warm "${NII[@]}" "${TRK[@]}"
      bench_timed "$R" "$tag" mpirun -n "$RANKS" "$PWD/bench/rank_time.sh" "$R/$tag.rank" \
        "$DWIPACK" create "$D/dwi_ml_ready" "$O/$name.hdf5" "$D/full.json" "${lists[@]}" ;;
    volumes)
      bench_warm "${NII[@]}"
      bench_timed "$R" "$tag" "$DWIPACK" create "$D/dwi_ml_ready" "$O/$name.hdf5" "$D/volumes.json" "${lists[@]}" ;;
    compressed) # --compression gzip (its default level), same ranks as the mpirun run
      bench_warm "${NII[@]}" "${TRK[@]}"
      bench_timed "$R" "$tag" mpirun -n "$RANKS" "$PWD/bench/rank_time.sh" "$R/$tag.rank" \
        "$DWIPACK" create "$D/dwi_ml_ready" "$O/$name.hdf5" "$D/full.json" "${lists[@]}" --compression gzip ;;
    streamlines)
      bench_warm "${TRK[@]}" "${MASKS[@]}"
      bench_timed "$R" "$tag" "$DWIPACK" create "$D/dwi_ml_ready" "$O/$name.hdf5" "$D/streamlines.json" "${lists[@]}" ;;
  esac
  stat -c %s "$O/$name.hdf5" >"$R/$tag.out_bytes"
}

if [ "$SKIP_PYTHON" = 0 ]; then
  step "3/5 the Python baseline (dwi_ml's nibabel/dipy/h5py calls, one process)"
  run_one python python
else
  step "3/5 the Python baseline: skipped (--skip-python)"
fi

# Output compression (issue 7: at most 1.5x the uncompressed wall time), when this dwipack has it:
# one run with mpirun (compression is spread over the ranks), compared with the mpirun runs.
COMPRESSED=""
if "$DWIPACK" create --help 2>/dev/null | grep -- '--compression' >/dev/null; then COMPRESSED=compressed; fi # not grep -q: under pipefail, its early exit fails the pipe (SIGPIPE)

step "4/5 dwipack: 1 rank, 1 rank on 1 core, mpirun -n $RANKS, volumes only, streamlines only; $REPEAT time(s) each${COMPRESSED:+; mpirun --compression gzip once}"
for ((rep = 1; rep <= REPEAT; rep++)); do
  names=(one onecore mpi volumes streamlines)
  if [ "$rep" = 1 ] && [ -n "$COMPRESSED" ]; then names=(one onecore mpi compressed volumes streamlines); fi
  for name in "${names[@]}"; do
    run_one "$name" "$name.$rep"
    printf '   %-12s run %d: %s s\n' "$name" "$rep" "$(cut -d' ' -f1 "$R/$name.$rep.time")"
    if [ "$rep" = 1 ]; then # the first outputs are checked, then every output is deleted
      case $name in
        one)
          "$PY" bench/report.py sizes "$O/one.hdf5" >"$R/sizes.json"
          if [ -f "$O/python.hdf5" ]; then
            "$PY" bench/report.py compare "$O/one.hdf5" "$O/python.hdf5" --tolerance 1e-3 >"$R/compare_python.json"
            rm -f "$O/python.hdf5"
          fi ;;
        mpi | compressed)
          "$PY" bench/report.py compare "$O/one.hdf5" "$O/$name.hdf5" >"$R/compare_$name.json" ;;
      esac
    fi
    if [ "$name" != one ] || [ "$rep" != 1 ]; then rm -f "$O/$name.hdf5"; fi
  done
  rm -f "$O/one.hdf5"
done

if [ "$PERF" = 1 ]; then # an extra, untimed 1-rank run under perf: where the CPU time goes
  step "profile: perf record of a 1-rank run"
  sync
  bench_warm "${NII[@]}" "${TRK[@]}"
  if perf record -F 999 -o "$WORK/perf.data" -- "$DWIPACK" create "$D/dwi_ml_ready" "$O/perf.hdf5" "$D/full.json" \
    "${lists[@]}" >/dev/null 2>"$R/perf.err"; then
    perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,sym -g none --percent-limit 0.5 2>/dev/null |
      grep -v '^$' | head -n 120 >"${JSON_OUT%.json}.perf.txt"
    echo "   profile: ${JSON_OUT%.json}.perf.txt"
  else
    echo "bench: perf record failed (ignored): $(tail -n 3 "$R/perf.err")" >&2
  fi
  rm -f "$O/perf.hdf5"
fi

# --------------------------------------------------------------------------- 5. the report
step "5/5 report"
"$PY" bench/report.py table "$R" --data "$D/dwi_ml_ready" --dwipack "$DWIPACK" --ranks "$RANKS" \
  --repeat "$REPEAT" --json "$JSON_OUT" --params "subjects=$SUBJECTS streamlines=$STREAMLINES mean_points=$MEAN_POINTS shape=$SHAPE frames=$FRAMES shape_step=$SHAPE_STEP" \
  --note "$NOTE" --elapsed "$(elapsed)"
