#!/usr/bin/env bash
# SLURM end to end (issue 6): start munged, slurmctld and slurmd from a temporary configuration
# (own munge key and socket, own free ports, so a SLURM or munge already running on the machine is
# never touched), then through the project's slurm/dwipack.sbatch with 3 tasks:
#   1. convert a small generated dataset; check the job, the log and the file (h5py, check_output.py);
#   2. convert a bigger one, scancel it once a subject is complete, check that it stopped mid-run
#      and left a resumable partial file, submit the same command again (the script adds --resume)
#      and check the result equals a reference conversion made without SLURM (h5py, every dataset
#      and attribute but the root dwipack_* provenance);
#   3. the time-limit path with node-local staging (DWIPACK_STAGE=1): USR1 to the batch shell (what
#      --signal=B:USR1@300 sends), dwipack stops with code 4, the job requeues itself and resumes;
#      submitted once more, the finished job does nothing.
# Runtime about 30 s (2 cores), most of it SLURM scheduling and the requeue delay.
# The cluster (one node) is tests/slurm/cluster.sh's; every daemon started is stopped by PID in the
# EXIT trap (also on failure), after the jobs. Installs nothing: the SLURM and munge packages come
# from scripts/install_deps.sh.
set -euo pipefail
: "${DWIPACK:?set DWIPACK to the dwipack binary}"
: "${PYTHON:=/usr/bin/python3}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SCRIPT=$REPO/slurm/dwipack.sbatch
DWIPACK=$(readlink -f "$(command -v "$DWIPACK")") # an absolute path: the jobs run in another folder
export DWIPACK
source "$HERE/cluster.sh"

T_START=$(date +%s)
# Our own bound for every wait, below ctest's TIMEOUT (300 s), so that the cleanup always runs.
# shellcheck disable=SC2034 # read by cluster.sh
CLUSTER_DEADLINE=$((T_START + ${SLURM_TEST_BUDGET:-230}))

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*  [$(($(date +%s) - T_START)) s]"; }
"$PYTHON" -c 'import h5py' 2>/dev/null || fail "$PYTHON lacks h5py: run scripts/install_deps.sh"

WORK=$(mktemp -d /tmp/dwipack-slurm-XXXXXX)
chmod 755 "$WORK" # munged (user munge) must reach its socket in $WORK/cluster
mkdir -p "$WORK"/{tmp,jobs}
export TMPDIR=$WORK/tmp # leftovers of the jobs (Open MPI, PMIx) stay inside $WORK
BG_PID=""
cleanup() {
  local rc=$? f
  trap - EXIT INT TERM
  set +e
  if [ "$rc" != 0 ]; then
    echo "--- slurm_test failed (rc $rc) after $(($(date +%s) - T_START)) s; logs:" >&2
    for f in "$WORK"/jobs/*.out; do [ -f "$f" ] && { echo "--- $f (end)" >&2; tail -n 25 "$f" >&2; }; done
  fi
  cluster_stop "$rc" # the jobs, then the daemons, by PID
  [ -z "$BG_PID" ] || { kill -TERM "$BG_PID" 2>/dev/null; wait "$BG_PID" 2>/dev/null; }
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- datasets: the big one is generated in the background while the daemons start and the
# first job runs (BG_PID: that dwipack process, stopped by PID in the cleanup) ---------------
SMALL=$WORK/small BIG=$WORK/big
export SOURCE_DATE_EPOCH=1764000000 # same data_and_time in the reference and the SLURM runs
"$DWIPACK" synth "$SMALL" --subjects 6 --shape 14,16,12 --frames 5 --shape_step 2 --gzip_level 1 >/dev/null
BIG_SUBJECTS=${SLURM_TEST_BIG_SUBJECTS:-16}
"$DWIPACK" synth "$BIG" --subjects "$BIG_SUBJECTS" --shape 40,44,36 --frames 40 --shape_step 2 \
  --gzip_level 1 --streamlines 400 >"$WORK/big-synth.log" 2>&1 &
BG_PID=$!

# --- the cluster: one node (localhost) declared with 4 CPUs, so that --ntasks=3 runs on 2 cores ---
cluster_start "$WORK/cluster"
pass "munged, slurmctld, slurmd started, node idle"

# --- helpers ---------------------------------------------------------------------------------
job_field() { cluster_job_field "$@"; }
wait_job() { cluster_wait "$@"; }

# submit NAME ARGS...: sbatch the project's script with 3 tasks; sets JOB and LOG. --time: the
# script's 2 h is over the partition's MaxTime (the job would stay PENDING), and 30 min keeps its
# --signal=B:USR1@300 (the time-limit warning) from firing at once.
submit() {
  local name=$1
  shift
  LOG=$WORK/jobs/$name.out
  cluster_submit "$LOG" --ntasks=3 --time=30 --chdir="$WORK" --job-name="$name" "$SCRIPT" "$@"
}

SMALL_LISTS=("$SMALL/config.json" "$SMALL/training_subjs.txt" "$SMALL/validation_subjs.txt" "$SMALL/testing_subjs.txt")
BIG_LISTS=("$BIG/config.json" "$BIG/training_subjs.txt" "$BIG/validation_subjs.txt" "$BIG/testing_subjs.txt")

# --- 1. a conversion through sbatch ------------------------------------------------------------
OUT1=$WORK/out/small.hdf5
mkdir -p "$WORK/out"
submit small "$SMALL/dwi_ml_ready" "$OUT1" "${SMALL_LISTS[@]}"
wait_job "$JOB" 90
[[ "$JOB_STATE" = COMPLETED && "$JOB_EXIT" = 0:0 ]] ||
  fail "job 1: state $JOB_STATE, exit code $JOB_EXIT"$'\n'"$(cat "$LOG")"
grep -q "dwipack exited with code 0" "$LOG" || fail "job 1: log lacks the exit line"$'\n'"$(cat "$LOG")"
[ -f "$OUT1" ] || fail "job 1: no output file"
[ ! -e "$OUT1.partial" ] || fail "job 1: partial file left behind"
"$PYTHON" "$REPO/tests/python/check_output.py" "$OUT1" "$SMALL/dwi_ml_ready" "${SMALL_LISTS[@]}" ||
  fail "job 1: check_output.py failed"
# synth: subject k is (14,16,12) + 2(k-1) voxels; input = 5 DWI frames + the T1.
"$PYTHON" - "$OUT1" <<'EOF' || fail "job 1: content check failed"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    subjects = sorted(k for k in f if k.startswith("sub-"))
    assert subjects == [f"sub-0{i}" for i in range(1, 7)], subjects
    shape = f["sub-06/input/data"].shape
    assert shape == (24, 26, 22, 6), shape
    assert f["sub-01/bundles/data"].shape[1] == 3
EOF
pass "job 1 ($JOB): 6 subjects converted under SLURM, checked through h5py and check_output.py"

# --- 2. scancel mid-run, resubmit, compare with a reference conversion -----------------------
rc=0
wait "$BG_PID" || rc=$?
BG_PID=""
[ "$rc" = 0 ] || fail "generating the big dataset failed"$'\n'"$(cat "$WORK/big-synth.log")"
OUT2=$WORK/out/big.hdf5
JOURNAL=$OUT2.partial.journal
# --log_json: one JSON record per subject, appended by each run; tells what the resumed run kept.
BIG_ARGS=("$BIG/dwi_ml_ready" "$OUT2" "${BIG_LISTS[@]}" --log_json "$WORK/out/big.jsonl")
submit interrupted "${BIG_ARGS[@]}"
# Cancel as soon as one subject is complete: in the journal or in the log (or after 20 s).
until=$(($(date +%s) + 60))
started=""
while :; do
  state=$(job_field "$JOB" JobState)
  [ "$state" = RUNNING ] && [ -z "$started" ] && started=$(date +%s)
  case $state in PENDING | RUNNING | CONFIGURING) ;; *) fail "job 2 ended before it was cancelled: $state"$'\n'"$(cat "$LOG")" ;; esac
  grep -qs '"subject"' "$JOURNAL" && break
  grep -qsE "written by rank|progress: [1-9]" "$LOG" && break
  [ -z "$started" ] || [ $(($(date +%s) - started)) -lt 20 ] || break
  [ "$(date +%s)" -lt "$until" ] || fail "job 2 did not start in 60 s: state $state, reason $(job_field "$JOB" Reason)"
  sleep 0.1
done
scancel "$JOB"
wait_job "$JOB" 60
[ "$JOB_STATE" = CANCELLED ] || fail "job 2: state $JOB_STATE after scancel"$'\n'"$(cat "$LOG")"
[ ! -e "$OUT2" ] || fail "job 2 finished before scancel took effect: make the big dataset bigger (SLURM_TEST_BIG_SUBJECTS)"
[[ -f "$OUT2.partial" && -f "$JOURNAL" ]] ||
  fail "job 2: no resumable partial file and journal after scancel: $(ls "$WORK/out")"$'\n'"$(cat "$LOG")"
kept=$(grep -c '"subject"' "$JOURNAL" || true)
[[ "$kept" -ge 1 && "$kept" -lt "$BIG_SUBJECTS" ]] ||
  fail "job 2: the journal lists $kept of $BIG_SUBJECTS subjects (expected a run stopped mid-way)"
grep -q "dwipack exited with code 4" "$LOG" ||
  fail "job 2: dwipack did not stop with code 4 (interrupted, resumable) on scancel"$'\n'"$(cat "$LOG")"
pass "job 2 ($JOB): cancelled mid-run with $kept/$BIG_SUBJECTS subjects complete; dwipack exited with code 4"

# The reference (no SLURM, one process: every subject on one rank) runs beside the resumed job.
"$DWIPACK" create "$BIG/dwi_ml_ready" "$WORK/reference.hdf5" "${BIG_LISTS[@]}" >"$WORK/reference.log" 2>&1 &
BG_PID=$!
submit resumed "${BIG_ARGS[@]}"
wait_job "$JOB" 120
[[ "$JOB_STATE" = COMPLETED && "$JOB_EXIT" = 0:0 ]] ||
  fail "job 3 (resume): state $JOB_STATE, exit code $JOB_EXIT"$'\n'"$(cat "$LOG")"
[ -f "$OUT2" ] || fail "job 3: no output file"
[[ ! -e "$OUT2.partial" && ! -e "$JOURNAL" ]] || fail "job 3: partial file or journal left behind: $(ls "$WORK/out")"
rc=0
wait "$BG_PID" || rc=$?
BG_PID=""
[ "$rc" = 0 ] || fail "the reference conversion failed"$'\n'"$(cat "$WORK/reference.log")"
"$PYTHON" "$HERE/../python/same_content.py" "$WORK/reference.hdf5" "$OUT2" || fail "job 3: the resumed file differs from the reference"
# The resumed run kept subjects and converted only the rest: its --log_json records (after the
# last "start" record), or, from a dwipack that does not write that log yet, its log lines.
if [ -s "$WORK/out/big.jsonl" ]; then
  "$PYTHON" - "$WORK/out/big.jsonl" "$BIG_SUBJECTS" <<'EOF' || fail "job 3: the JSON log does not show a resumed run"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
starts = [i for i, r in enumerate(records) if r.get("type") == "start"]
assert len(starts) >= 2, f"{len(starts)} start records (expected one per run)"
status = [r["status"] for r in records[starts[-1]:] if r.get("type") == "subject"]
kept, written = status.count("kept"), status.count("written")
assert kept >= 1 and kept + written == int(sys.argv[2]), f"resumed run: {kept} kept, {written} written"
print(f"resumed run: {kept} subjects kept, {written} written")
EOF
else
  grep -qi "kept" "$LOG" || fail "job 3: the log does not show subjects kept by --resume"$'\n'"$(cat "$LOG")"
fi
pass "job 3 ($JOB): resubmitted with --resume; the result equals the reference conversion"

# --- 3. the time-limit path, with node-local staging -------------------------------------------
# USR1 to the batch shell is what #SBATCH --signal=B:USR1@300 delivers before the time limit; sent
# here by hand. The script must stop dwipack (SIGTERM to the ranks), copy the staged partial file
# and journal back beside OUT, and requeue the job; the requeued job (same id, restart 1) stages
# them in again, resumes, and copies the complete file and the config copy back.
OUT3=$WORK/out/staged.hdf5
export DWIPACK_STAGE=1 # the stage folder: $TMPDIR/dwipack-<job id>, inside $WORK
submit requeued "$BIG/dwi_ml_ready" "$OUT3" "${BIG_LISTS[@]}"
unset DWIPACK_STAGE
STAGE=$TMPDIR/dwipack-$JOB
until=$(($(date +%s) + 60))
while ! grep -qsE "written by rank|progress: [1-9]" "$LOG" && ! grep -qs '"subject"' "$STAGE/staged.hdf5.partial.journal"; do
  state=$(job_field "$JOB" JobState)
  case $state in PENDING | RUNNING | CONFIGURING) ;; *) fail "job 4 ended before USR1: $state"$'\n'"$(cat "$LOG")" ;; esac
  [ "$(date +%s)" -lt "$until" ] || fail "job 4: no subject written in 60 s (state $state)"$'\n'"$(cat "$LOG")"
  sleep 0.1
done
scancel --batch --signal=USR1 "$JOB"
wait_job "$JOB" 120
[[ "$JOB_STATE" = COMPLETED && "$JOB_EXIT" = 0:0 ]] ||
  fail "job 4 (time limit, requeue): state $JOB_STATE, exit code $JOB_EXIT"$'\n'"$(cat "$LOG")"
for line in "staging the output in $STAGE" "USR1: time limit near" "dwipack exited with code 4" \
  "requeueing job $JOB" "(restart 1)" "dwipack exited with code 0"; do
  grep -qF "$line" "$LOG" || fail "job 4: the log lacks '$line'"$'\n'"$(cat "$LOG")"
done
sed -n '/(restart 1)/,$p' "$LOG" | grep -qi kept ||
  fail "job 4: the requeued run kept no subject of the interrupted one"$'\n'"$(cat "$LOG")"
[[ -f "$OUT3" && -f "$WORK/out/staged.json" ]] || fail "job 4: output or config copy not copied back: $(ls "$WORK/out")"
[[ ! -e "$OUT3.partial" && ! -e "$OUT3.partial.journal" && ! -e "$STAGE" ]] ||
  fail "job 4: partial file, journal or stage folder left behind: $(ls "$WORK/out" "$TMPDIR")"
"$PYTHON" "$HERE/../python/same_content.py" "$WORK/reference.hdf5" "$OUT3" || fail "job 4: the requeued file differs from the reference"
pass "job 4 ($JOB): staged; USR1 (time limit) stopped it with code 4, requeued, resumed; equals the reference"

# The same job once more (OUT given without its extension, as dwipack allows): the file is complete,
# so the script does not stage and dwipack --resume has nothing to do; the file is untouched.
sum_before=$(md5sum <"$OUT3")
export DWIPACK_STAGE=1
submit again "$BIG/dwi_ml_ready" "${OUT3%.hdf5}" "${BIG_LISTS[@]}"
unset DWIPACK_STAGE
wait_job "$JOB" 60
[[ "$JOB_STATE" = COMPLETED && "$JOB_EXIT" = 0:0 ]] || fail "job 5: state $JOB_STATE, exit code $JOB_EXIT"$'\n'"$(cat "$LOG")"
for line in "staging skipped: $OUT3 exists" "nothing to do"; do
  grep -qF "$line" "$LOG" || fail "job 5: the log lacks '$line'"$'\n'"$(cat "$LOG")"
done
[ "$(md5sum <"$OUT3")" = "$sum_before" ] || fail "job 5: the complete file was modified"
pass "job 5 ($JOB): resubmitting a finished job does nothing"
echo "slurm_test: all passed in $(($(date +%s) - T_START)) s"
