#!/usr/bin/env bash
# The scaling benchmark: how dwipack's time and memory per rank grow with the number of subjects
# and of ranks, in one run:
#   1. generate a pool of tiny subjects with `dwipack synth` (10x10x10 voxels x 2 frames, 20
#      streamlines of ~10 points: what the per-subject and per-object costs are measured on), a
#      mixed cohort (a few large subjects among many tiny ones) and one large DWI subject;
#   2. convert cohorts of 100, 800, 3,200 and 12,800 tiny subjects, and the mixed cohort, with 1
#      rank (no mpirun) and with `mpirun -n 3` (1 coordinator + 2 workers), and 6,000 tiny
#      subjects with 1 rank; every rank's peak RSS is recorded (bench/rank_time.sh);
#   3. check with h5py that every list attribute of the cohorts above 4,096 subjects reads back
#      whole, and convert the large subject once, comparing its peak RSS with its data and with
#      --dry_run's estimate;
#   4. print one table with the ratios and PASS/GAP per target (bench/scale_report.py), and write
#      the same as JSON.
#
#   bench/scale.sh [--cohorts LIST] [--ranks N] [--mixed SMALL,LARGE] [--no-large] [--json PATH]
#                  [--workdir DIR] [--keep] [--note TEXT]
#
# --cohorts: comma-separated cohort sizes run with 1 and N ranks (default 100,800,3200,12800);
# --mixed: tiny and large subjects of the mixed cohort (default 400,4; 0,0 skips it); --no-large
# skips the 145x174x145x144 subject (2.1 GB of float32 data; ~3 GB of disk and of memory).
# Time to the first subject is dwipack's own clock (planning + layout + first subject, from after
# MPI_Init), the wall time is the whole command's (mpirun included). The machine's other load is
# recorded per run: on a shared machine, compare ratios measured in one run.
# dwipack is $DWIPACK, else build/bin/dwipack (built with scripts/build.sh when missing).
set -euo pipefail
CALLER_DIR=$PWD
if [ -n "${DWIPACK:-}" ] && [[ $DWIPACK == */* ]]; then DWIPACK=$(realpath -m "$DWIPACK"); fi
cd "$(dirname "$0")/.."
source bench/lib.sh
T_START=$(date +%s.%N)

COHORTS=100,800,3200,12800
RANKS=3
MIXED=400,4
LARGE=1
JSON_OUT=""
WORKDIR=""
KEEP=0
NOTE=""
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --cohorts) COHORTS=$2; shift 2 ;;
    --ranks) RANKS=$2; shift 2 ;;
    --mixed) MIXED=$2; shift 2 ;;
    --no-large) LARGE=0; shift ;;
    --json) JSON_OUT=$2; shift 2 ;;
    --workdir) WORKDIR=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --note) NOTE=$2; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "bench/scale.sh: unknown argument '$1'" >&2; usage 2 >&2 ;;
  esac
done
IFS=, read -r -a SIZES <<<"$COHORTS"
IFS=, read -r MIXED_SMALL MIXED_LARGE <<<"$MIXED"
for v in "${SIZES[@]}" "$RANKS" "$MIXED_SMALL" "$MIXED_LARGE"; do
  [[ $v =~ ^[0-9]+$ ]] || { echo "bench/scale.sh: '$v' is not a non-negative integer" >&2; exit 2; }
done
((RANKS >= 2)) || { echo "bench/scale.sh: --ranks must be at least 2" >&2; exit 2; }
ATTR_COHORT=6000 # converted with 1 rank, for the attribute check (more than 4,096 subjects)
POOL_SIZE=$ATTR_COHORT
for n in "${SIZES[@]}" "$MIXED_SMALL"; do ((n > POOL_SIZE)) && POOL_SIZE=$n; done
if [ -z "$JSON_OUT" ]; then
  JSON_OUT=$PWD/bench/scale-$(date +%Y-%m-%d_%H%M).json
else
  JSON_OUT=$(cd "$CALLER_DIR" && realpath -m "$JSON_OUT")
fi
[ -z "$WORKDIR" ] || WORKDIR=$(cd "$CALLER_DIR" && realpath -m "$WORKDIR")

bench_need_packages time openmpi-bin python3-h5py python3-numpy
bench_dwipack
PY=/usr/bin/python3

bench_workdir scale
R=$WORK/results
O=$WORK/out
mkdir -p "$R" "$O"
elapsed() { awk -v now="$(date +%s.%N)" -v start="$T_START" 'BEGIN { printf "%.1f", now - start }'; }
step() { echo "== [$(elapsed) s] $1"; }

# --------------------------------------------------------------------------- 1. the data
step "1/4 generating $POOL_SIZE tiny subjects${MIXED_LARGE:+, $MIXED_LARGE large ones}$([ "$LARGE" = 1 ] && echo ', one 145x174x145x144 DWI')"
"$DWIPACK" synth "$WORK/pool" --subjects "$POOL_SIZE" --shape 10,10,10 --frames 2 --shape_step 0 \
  --streamlines 20 --mean_points 10 --seed 1 >/dev/null
CONFIG=$WORK/pool/config.json
ls "$WORK/pool/dwi_ml_ready" | sort -V >"$WORK/pool.txt"

# make_cohort NAME N [LARGE_DIR...]: a dwi_ml_ready folder of links to the first N pool subjects
# (and to the given large subjects), with training/validation/testing lists of 60/20/20 %.
make_cohort() {
  local name=$1 n=$2 d=$WORK/$1
  shift 2
  mkdir -p "$d/dwi_ml_ready"
  head -n "$n" "$WORK/pool.txt" >"$d/ids.txt"
  while read -r id; do ln -s "$WORK/pool/dwi_ml_ready/$id" "$d/dwi_ml_ready/$id"; done <"$d/ids.txt"
  local large
  for large in "$@"; do
    ln -s "$large" "$d/dwi_ml_ready/$(basename "$large")"
    basename "$large" >>"$d/ids.txt"
  done
  local total a b
  total=$(wc -l <"$d/ids.txt")
  a=$((total * 6 / 10))
  b=$((total * 8 / 10))
  sed -n "1,${a}p" "$d/ids.txt" >"$d/training.txt"
  sed -n "$((a + 1)),${b}p" "$d/ids.txt" >"$d/validation.txt"
  sed -n "$((b + 1)),\$p" "$d/ids.txt" >"$d/testing.txt"
}
for n in "${SIZES[@]}" "$ATTR_COHORT"; do make_cohort "tiny$n" "$n"; done
LARGE_DIRS=()
for ((i = 1; i <= MIXED_LARGE; i++)); do # 96x114x96 x 32 frames, 100k streamlines of ~50 points
  "$DWIPACK" synth "$WORK/gen-large$i" --subjects 1 --shape 96,114,96 --frames 32 --streamlines 100000 \
    --mean_points 50 --seed "$((100 + i))" >/dev/null
  mv "$WORK/gen-large$i/dwi_ml_ready/sub-01" "$WORK/large-$i"
  LARGE_DIRS+=("$WORK/large-$i")
done
((MIXED_SMALL + MIXED_LARGE == 0)) || make_cohort mixed "$MIXED_SMALL" "${LARGE_DIRS[@]}"
if [ "$LARGE" = 1 ]; then
  "$DWIPACK" synth "$WORK/big" --subjects 1 --shape 145,174,145 --frames 144 >/dev/null
fi
sync

# --------------------------------------------------------------------------- 2. the runs
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mpi_yield_when_idle=1 HDF5_USE_FILE_LOCKING=FALSE

# run_one COHORT_DIR TAG RANKS [EXTRA...]: one timed conversion; figures in RESULTS/TAG.*
run_one() {
  local d=$1 tag=$2 ranks=$3
  shift 3
  rm -f "$O/$tag.hdf5" "$O/$tag.hdf5.partial"* "$R/$tag.rank".*
  sync
  local args=(create "$d/dwi_ml_ready" "$O/$tag.hdf5" "$CONFIG" "$d/training.txt" "$d/validation.txt"
    "$d/testing.txt" --log_json "$R/$tag.log.json" -v INFO "$@") # INFO: the planning time
  if [ "$ranks" = 1 ]; then
    bench_timed "$R" "$tag" "$PWD/bench/rank_time.sh" "$R/$tag.rank" "$DWIPACK" "${args[@]}"
  else
    bench_timed "$R" "$tag" mpirun -n "$ranks" "$PWD/bench/rank_time.sh" "$R/$tag.rank" "$DWIPACK" "${args[@]}"
  fi
}

step "2/4 conversions: cohorts ${SIZES[*]} with 1 and $RANKS ranks; $ATTR_COHORT with 1 rank${MIXED_LARGE:+; mixed ($MIXED_SMALL tiny + $MIXED_LARGE large) with 1 and $RANKS ranks}"
names=()
for n in "${SIZES[@]}"; do names+=("tiny$n:1" "tiny$n:$RANKS"); done
names+=("tiny$ATTR_COHORT:1")
((MIXED_SMALL + MIXED_LARGE == 0)) || names+=("mixed:1" "mixed:$RANKS")
for item in "${names[@]}"; do
  cohort=${item%:*}
  ranks=${item#*:}
  tag=$cohort.np$ranks
  run_one "$WORK/$cohort" "$tag" "$ranks"
  printf '   %-14s %d rank(s): %s s\n' "$cohort" "$ranks" "$(cut -d' ' -f1 "$R/$tag.time")"
  echo "$cohort" >"$R/$tag.cohort"
  wc -l <"$WORK/$cohort/ids.txt" >"$R/$tag.subjects"
  if [ "$(cat "$R/$tag.subjects")" -gt 4096 ] && [ "$ranks" = 1 ]; then # every list attribute, whole
    "$PY" bench/scale_report.py attributes "$O/$tag.hdf5" "$WORK/$cohort" >"$R/$tag.attributes.json"
  fi
  rm -f "$O/$tag.hdf5"
done

# --------------------------------------------------------------------------- 3. the large subject
if [ "$LARGE" = 1 ]; then
  step "3/4 the large subject (145x174x145x144 float32 DWI): --dry_run's estimate, then one conversion"
  mkdir -p "$WORK/bigc"
  cp "$WORK/big/training_subjs.txt" "$WORK/bigc/training.txt"
  : >"$WORK/bigc/validation.txt"
  : >"$WORK/bigc/testing.txt"
  ln -s "$WORK/big/dwi_ml_ready" "$WORK/bigc/dwi_ml_ready"
  "$DWIPACK" create "$WORK/bigc/dwi_ml_ready" "$O/dry.hdf5" "$CONFIG" "$WORK/bigc/training.txt" \
    "$WORK/bigc/validation.txt" "$WORK/bigc/testing.txt" --dry_run >"$R/large.dryrun" 2>&1
  cat "$WORK"/big/dwi_ml_ready/*/*/* >/dev/null
  run_one "$WORK/bigc" large.np1 1
  echo large >"$R/large.np1.cohort"
  echo 1 >"$R/large.np1.subjects"
  "$PY" bench/report.py sizes "$O/large.np1.hdf5" >"$R/large.sizes.json"
  rm -f "$O/large.np1.hdf5"
else
  step "3/4 the large subject: skipped (--no-large)"
fi

# --------------------------------------------------------------------------- 4. the report
step "4/4 report"
"$PY" bench/scale_report.py table "$R" --dwipack "$DWIPACK" --ranks "$RANKS" --json "$JSON_OUT" \
  --note "$NOTE" --elapsed "$(elapsed)"
