#!/usr/bin/env bash
# SLURM with two nodes on this one machine (tests/slurm/cluster.sh: munged, slurmctld, and a slurmd
# per node, n1 and n2, each in its own UTS and mount namespace, on 127.0.0.2 and 127.0.0.3), then
# slurm/dwipack-multinode.sbatch with --nodes=2 --ntasks-per-node=2 (srun + PMIx; Open MPI's TCP
# transport allowed on the loopback interface, which it skips by default):
#   1. a conversion: ranks 0-1 on n1 and 2-3 on n2, as --log_json's summary record and the root
#      attribute dwipack_rank_hosts say; subjects written by ranks of both nodes; the file equals a
#      1-rank conversion's content (h5diff and h5py; only dwipack_ranks, dwipack_command_line and
#      dwipack_rank_hosts differ);
#   2. the same conversion with node n2's ranks killed (SIGKILL, as a lost node or an OOM kill) once
#      a subject is complete: the job ends within SLURM's KillWait and a margin (no hang), no process
#      of it is left on either node, the partial file and its journal stay;
#   3. resubmitted (the script adds --resume): the complete subjects are kept, the others
#      converted, and the file equals the 1-rank conversion.
# About a minute on 2 cores. Every daemon started here is stopped by PID in the EXIT trap (also on
# failure). Installs nothing: the SLURM and munge packages come from scripts/install_deps.sh.
source "$(dirname "$0")/../integration/lib.sh" # WORK, fail, pass, same_content
source "$TESTS_DIR/slurm/cluster.sh"
SCRIPT=$TESTS_DIR/../slurm/dwipack-multinode.sbatch
DWIPACK=$(readlink -f "$(command -v "$DWIPACK")") # an absolute path: the jobs run in another folder
export DWIPACK

T_START=$(date +%s)
# Our own bound for every wait, below ctest's TIMEOUT (300 s), so that the cleanup always runs.
# shellcheck disable=SC2034 # read by cluster.sh
CLUSTER_DEADLINE=$((T_START + ${SLURM_TEST_BUDGET:-230}))
pass() { echo "ok: $*  [$(($(date +%s) - T_START)) s]"; }
BG_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ "$rc" != 0 ]; then
    echo "--- multinode test failed (rc $rc) after $(($(date +%s) - T_START)) s" >&2
    for f in "$WORK"/jobs/*.out; do [ -f "$f" ] && { echo "--- $f (end)" >&2; tail -n 25 "$f" >&2; }; done
  fi
  cluster_stop "$rc"
  [ -z "$BG_PID" ] || { kill -TERM "$BG_PID" 2>/dev/null; wait "$BG_PID" 2>/dev/null; }
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$PYTHON" -c 'import h5py' 2>/dev/null || fail "$PYTHON lacks h5py: run scripts/install_deps.sh"
chmod 755 "$WORK" # munged (user munge) must reach its socket in $WORK/cluster
mkdir -p "$WORK/tmp"
export TMPDIR=$WORK/tmp # what the jobs leave (Open MPI, PMIx) stays inside $WORK
command -v h5diff >/dev/null || fail "no h5diff: run scripts/install_deps.sh (hdf5-tools)"

# --- the dataset (generated while the daemons start), the cluster ---------------------------------
export SOURCE_DATE_EPOCH=1764000000 # the same data_and_time in the reference and the SLURM runs
# Enough subjects that job 2 is still writing when the poll below (0.1-0.3 s a round) finds its
# first complete subject: with 16 it was once at 12 of 16 when the kill came.
SUBJECTS=${SLURM_TEST_SUBJECTS:-32}
D=$WORK/data
"$DWIPACK" synth "$D" --subjects "$SUBJECTS" --shape 40,44,36 --frames 40 --shape_step 0 --gzip_level 1 \
  --streamlines 400 >"$WORK/synth.log" 2>&1 &
BG_PID=$!
cluster_start "$WORK/cluster" 2
pass "munged, slurmctld and 2 slurmd started; nodes ${CLUSTER_NODES[*]} idle"
wait "$BG_PID" || fail "generating the dataset failed"$'\n'"$(cat "$WORK/synth.log")"
BG_PID=""
LISTS=("$D/config.json" "$D/training_subjs.txt" "$D/validation_subjs.txt" "$D/testing_subjs.txt")

# The reference: one process, no SLURM; runs beside the first job.
"$DWIPACK" create "$D/dwi_ml_ready" "$WORK/reference.hdf5" "${LISTS[@]}" >"$WORK/reference.log" 2>&1 &
BG_PID=$!

# Between "nodes" of one machine Open MPI talks TCP over the loopback interface, which it excludes
# by default. sbatch passes this environment to the job.
export OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_oob_tcp_if_include=lo
mkdir -p "$WORK/jobs" "$WORK/out"
# submit NAME OUT: the multi-node script, 2 nodes x 2 tasks; the --log_json records accumulate in
# OUT's .jsonl. --time: the script's 4 h is over the test partition's limit.
submit() {
  LOG=$WORK/jobs/$1.out
  cluster_submit "$LOG" --nodes=2 --ntasks-per-node=2 --time=30 --chdir="$WORK" --job-name="$1" "$SCRIPT" \
    "$D/dwi_ml_ready" "$2" "${LISTS[@]}" --log_json "${2%.hdf5}.jsonl"
}
# check_hosts OUT WHAT [both]: the last run's summary record and OUT's provenance name the hosts n1
# n1 n2 n2 (rank order), and every subject the last run wrote came from one of them; with "both",
# from ranks of both nodes. (Only a run with many subjects to write can ask that: the farm hands a
# subject to the first free worker, and with 2 left after a resume, rank 1 may well take both.)
check_hosts() {
  "$PYTHON" - "$1" "${1%.hdf5}.jsonl" "${3:-}" <<'EOF' || fail "$2: the ranks did not run on both nodes as expected"
import json, sys, h5py
expected = ["n1", "n1", "n2", "n2"]
with h5py.File(sys.argv[1], "r") as f:
    hosts = list(f.attrs["dwipack_rank_hosts"])
    assert hosts == expected, f"dwipack_rank_hosts = {hosts}"
    assert int(f.attrs["dwipack_ranks"]) == 4, f"dwipack_ranks = {f.attrs['dwipack_ranks']}"
records = [json.loads(line) for line in open(sys.argv[2]) if line.strip()]
last_start = max(i for i, r in enumerate(records) if r["type"] == "start")
run = records[last_start:]
summary = [r for r in run if r["type"] == "summary"]
assert len(summary) == 1 and summary[0]["rank_hosts"] == expected, f"summary: {summary}"
written = [r for r in run if r["type"] == "subject" and r["status"] == "written"]
assert written, "the run wrote no subject"
assert all(1 <= r["rank"] < len(expected) for r in written), f"writer ranks: {[r['rank'] for r in written]}"
writers = {expected[r["rank"]] for r in written}
if sys.argv[3] == "both":
    assert writers == {"n1", "n2"}, f"subjects written on {writers} only"
EOF
}

# --- 1. a conversion on both nodes ------------------------------------------------------------------
OUT1=$WORK/out/both.hdf5
submit both "$OUT1"
cluster_wait "$JOB" 120
[[ "$JOB_STATE" = COMPLETED && "$JOB_EXIT" = 0:0 ]] ||
  fail "job 1: state $JOB_STATE, exit code $JOB_EXIT"$'\n'"$(cat "$LOG")"
grep -q "4 tasks on 2 nodes (n\[1-2\])" "$LOG" || fail "job 1: not 4 tasks on n1 and n2"$'\n'"$(cat "$LOG")"
grep -q "dwipack exited with code 0" "$LOG" || fail "job 1: log lacks the exit line"$'\n'"$(cat "$LOG")"
check_hosts "$OUT1" "job 1" both
rc=0
wait "$BG_PID" || rc=$?
BG_PID=""
[ "$rc" = 0 ] || fail "the reference conversion failed"$'\n'"$(cat "$WORK/reference.log")"
"$PYTHON" - "$WORK/reference.hdf5" "$(hostname)" <<'EOF' || fail "the reference's dwipack_rank_hosts"
import sys, h5py
hosts = list(h5py.File(sys.argv[1], "r").attrs["dwipack_rank_hosts"])
assert hosts == [sys.argv[2]], f"1-rank run outside SLURM: dwipack_rank_hosts = {hosts}"
EOF
diffs=$(same_content "$WORK/reference.hdf5" "$OUT1") || fail "job 1: differs from the 1-rank conversion: $diffs"
pass "job 1 ($JOB): ranks on n1 n1 n2 n2 (--log_json, dwipack_rank_hosts), subjects written on both; equals the 1-rank file"

# --- 2. node n2's ranks killed mid-run ----------------------------------------------------------------
OUT2=$WORK/out/killed.hdf5
JOURNAL=$OUT2.partial.journal
submit killed "$OUT2"
# Once a subject is complete (in the journal), the dwipack processes of the job on n2.
until=$(cluster_until 90)
victims=()
while :; do
  [ ! -e "$OUT2" ] || fail "job 2 finished before its ranks on n2 were killed: use more subjects (SLURM_TEST_SUBJECTS)"
  if grep -qs '"subject"' "$JOURNAL"; then
    victims=()
    for pid in $(cluster_step_pids "$JOB" n2); do
      [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$DWIPACK" ] || victims+=("$pid")
    done
    [ ${#victims[@]} -lt 2 ] || break
  fi
  state=$(cluster_job_field "$JOB" JobState)
  case $state in PENDING | RUNNING | CONFIGURING) ;; *) fail "job 2 ended early: $state"$'\n'"$(cat "$LOG")" ;; esac
  [ "$(date +%s)" -lt "$until" ] || fail "job 2: no subject complete with 2 ranks on n2 in 90 s (state $state)"
  sleep 0.1
done
[ ${#victims[@]} = 2 ] || fail "job 2: ${#victims[@]} dwipack processes on n2 (${victims[*]}), expected 2"
t_kill=$(date +%s)
kill -KILL "${victims[@]}"
at_kill=$(grep -c '"subject"' "$JOURNAL" || true)
# srun --kill-on-bad-exit ends the step: SIGTERM, then SIGKILL after KillWait (15 s in this cluster).
# Until then the ranks on n1 go on (a worker finishes the subject in hand), but the coordinator
# waits for the dead ranks' subjects, so the file is never completed.
cluster_wait "$JOB" 45
waited=$(($(date +%s) - t_kill))
[ "$JOB_STATE" = FAILED ] || fail "job 2: state $JOB_STATE after the kill (expected FAILED)"$'\n'"$(cat "$LOG")"
left=$(cluster_step_pids "$JOB")
[ -z "$left" ] || fail "job 2: processes left after the job ended: $(ps -o pid,args -p "${left//$'\n'/,}")"
[ ! -e "$OUT2" ] || fail "job 2: the output is complete although n2's ranks were killed"
[[ -f "$OUT2.partial" && -f "$JOURNAL" ]] ||
  fail "job 2: no partial file and journal left for --resume: $(ls "$WORK/out")"$'\n'"$(cat "$LOG")"
kept=$(grep -c '"subject"' "$JOURNAL" || true)
[[ "$kept" -ge 1 && "$kept" -lt "$SUBJECTS" ]] || fail "job 2: the journal lists $kept of $SUBJECTS subjects"
pass "job 2 ($JOB): ranks 2-3 on n2 killed at $at_kill/$SUBJECTS subjects complete; the job ended ($JOB_STATE, $JOB_EXIT) ${waited} s later with $kept complete, nothing left running"

# --- 3. resubmitted: resumes ----------------------------------------------------------------------------
submit resumed "$OUT2"
cluster_wait "$JOB" 120
[[ "$JOB_STATE" = COMPLETED && "$JOB_EXIT" = 0:0 ]] ||
  fail "job 3 (resume): state $JOB_STATE, exit code $JOB_EXIT"$'\n'"$(cat "$LOG")"
[ -f "$OUT2" ] || fail "job 3: no output file"
[[ ! -e "$OUT2.partial" && ! -e "$JOURNAL" ]] || fail "job 3: partial file or journal left behind: $(ls "$WORK/out")"
"$PYTHON" - "${OUT2%.hdf5}.jsonl" "$SUBJECTS" <<'EOF' || fail "job 3: the JSON log does not show a resumed run"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
starts = [i for i, r in enumerate(records) if r["type"] == "start"]
assert len(starts) == 2, f"{len(starts)} start records (expected one per run)"
status = [r["status"] for r in records[starts[-1]:] if r["type"] == "subject"]
kept, written = status.count("kept"), status.count("written")
assert kept >= 1 and written >= 1 and kept + written == int(sys.argv[2]), f"resumed run: {kept} kept, {written} written"
print(f"resumed run: {kept} subjects kept, {written} written")
EOF
check_hosts "$OUT2" "job 3"
diffs=$(same_content "$WORK/reference.hdf5" "$OUT2") || fail "job 3: the resumed file differs from the 1-rank conversion: $diffs"
pass "job 3 ($JOB): resubmitted, resumed on both nodes; equals the 1-rank file"
echo "multinode_test: all passed in $(($(date +%s) - T_START)) s"
