#!/usr/bin/env bash
# Issue 5: a conversion killed at a random moment and resumed gives the same content as an
# uninterrupted run, every time. Ten trials, rotating over three ways to die: kill -9 of one
# worker rank, kill -9 of the launcher (mpirun) and SIGTERM to every rank (what scancel and a
# SLURM time limit send). After each kill there must be no file at the target path; then the same
# command with --resume (on another rank count) finishes, and the result must equal the reference.
# Also: a subject whose data no longer matches its journal CRC is redone, not trusted.
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=1764000000 # same data_and_time in every run
"$DWIPACK" synth "$WORK/data" --subjects 6 --shape 30,34,28 --frames 12 --shape_step 2 --gzip_level 1 \
  --streamlines 200000 --mean_points 40 >/dev/null
D=$WORK/data
ARGS=("$D/dwi_ml_ready" "$WORK/out.hdf5" "$D/config.json" "$D/training_subjs.txt" "$D/validation_subjs.txt"
  "$D/testing_subjs.txt")

start=$(date +%s.%N)
run_dwipack 3 create "${ARGS[@]}"
expect_rc 0 "reference run"
full_run=$(echo "$(date +%s.%N) - $start" | bc)
mv "$WORK/out.hdf5" "$WORK/reference.hdf5"
pass "reference run: ${full_run} s"

# The PIDs of this test's dwipack ranks (their command line starts with the binary and names our
# output file; the launcher's command line starts with mpiexec).
ranks_of_run() { pgrep -f -- "^$DWIPACK create $D/dwi_ml_ready $WORK/out.hdf5" || true; }
wait_ranks() { # until N ranks run (5 s at most)
  local i
  for i in $(seq 100); do
    [ "$(ranks_of_run | wc -l)" -ge "$1" ] && return 0
    sleep 0.05
  done
}
rank_pid() { # RANK: the process whose environment says it is that MPI rank
  local pid
  for pid in $(ranks_of_run); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then
      echo "$pid"
      return
    fi
  done
}
wait_gone() { # no rank of the run left (orphans of a killed launcher included), 60 s at most
  local i
  for i in $(seq 600); do
    [ -z "$(ranks_of_run)" ] && return 0
    sleep 0.1
  done
  kill -9 $(ranks_of_run) 2>/dev/null || true
  fail "ranks still running 60 s after the kill"
}

journaled() { # subjects recorded in the journal so far
  local n
  n=$(grep -c '"subject"' "$WORK/out.hdf5.partial.journal" 2>/dev/null) || true
  echo "${n:-0}"
}

kinds=(worker launcher sigterm)
kills=0
for attempt in $(seq 1 20); do
  [ "$kills" -lt 10 ] || break
  kind=${kinds[$((kills % 3))]}
  rm -f "$WORK/out.hdf5" "$WORK/out.hdf5.partial" "$WORK/out.hdf5.partial.journal"
  # A random moment: after 0-4 of the 6 subjects are journaled, plus 0-0.4 s (drawn here, in the
  # parent shell: $RANDOM inside $(...) would repeat the parent's value).
  wait_for=$((RANDOM % 5))
  extra=$(printf '0.%02d' $((RANDOM % 40)))
  timeout 120 "$MPIEXEC" -n 3 "$DWIPACK" create "${ARGS[@]}" >"$WORK/killed.log" 2>&1 &
  launcher=$!
  wait_ranks 3
  for i in $(seq 600); do
    [ "$(journaled)" -ge "$wait_for" ] || ! kill -0 "$launcher" 2>/dev/null && break
    sleep 0.02
  done
  sleep "$extra"
  case $kind in
  worker) victim=$((1 + RANDOM % 2)); pid=$(rank_pid "$victim"); [ -n "$pid" ] && kill -9 "$pid" ;;
  launcher) kill -9 "$(pgrep -P "$launcher" -x mpiexec || echo "$launcher")" 2>/dev/null || true ;;
  sigterm) pids=$(ranks_of_run); [ -n "$pids" ] && kill -TERM $pids ;;
  esac
  set +e
  wait "$launcher" 2>/dev/null
  killed_rc=$?
  set -e
  wait_gone
  if [ -e "$WORK/out.hdf5" ]; then
    # The run finished before the kill landed (the file is renamed into place only once complete
    # and closed; the kill may still hit a rank on its way out, hence any exit code): it must be
    # complete and right. Not counted as a kill.
    diffs=$(same_content "$WORK/reference.hdf5" "$WORK/out.hdf5") || fail "attempt $attempt (rc $killed_rc): $diffs"
    echo "note: attempt $attempt ($kind) finished before the kill (content equal); not counted"
    continue
  fi
  kills=$((kills + 1))
  [ "$killed_rc" != 0 ] || fail "kill $kills ($kind): exit code 0 but no output"
  if [ "$kind" = sigterm ]; then
    grep -q "interrupted by SIGTERM" "$WORK/killed.log" || fail "kill $kills: no interruption message"$'\n'"$(cat "$WORK/killed.log")"
  fi
  recorded=$(journaled)
  np=$((kills % 2 == 0 ? 2 : 4)) # resume on another rank count
  run_dwipack "$np" create "${ARGS[@]}" --resume -v INFO
  expect_rc 0 "kill $kills ($kind): --resume"
  [ ! -e "$WORK/out.hdf5.partial" ] && [ ! -e "$WORK/out.hdf5.partial.journal" ] \
    || fail "kill $kills: partial file or journal left after the resume"
  diffs=$(same_content "$WORK/reference.hdf5" "$WORK/out.hdf5") || fail "kill $kills ($kind): resumed file differs: $diffs"
  kept=$(grep -cE "last: [^ ]+ kept$" <<<"$OUT" || true) # the progress lines
  pass "kill $kills ($kind, exit code $killed_rc): $recorded subject(s) journaled, $kept kept, resumed with np=$np: content equal"
done
[ "$kills" -ge 10 ] || fail "only $kills of 20 attempts were killed mid-run"

# A journaled subject whose data was lost (as on a crashed node: zeros where the data was) is
# read back, found different, and redone.
rm -f "$WORK/out.hdf5"
timeout 120 "$MPIEXEC" -n 3 "$DWIPACK" create "${ARGS[@]}" >/dev/null 2>&1 &
launcher=$!
for i in $(seq 300); do
  [ "$(journaled)" -ge 1 ] && break
  sleep 0.05
done
kill -9 $(ranks_of_run) 2>/dev/null || true
wait "$launcher" 2>/dev/null || true
wait_gone
[ ! -e "$WORK/out.hdf5" ] || fail "crash case: the run finished before the kill (make the dataset larger)"
victim=$("$PYTHON" - "$WORK/out.hdf5.partial" "$WORK/out.hdf5.partial.journal" <<'PY'
import json, sys, h5py
lines = [json.loads(l) for l in open(sys.argv[2]) if l.strip()][1:]
entry = lines[0]
path = max(entry["datasets"], key=lambda p: entry["datasets"][p][1])  # its largest dataset
with h5py.File(sys.argv[1], "r") as f:
    offset, nbytes = f[path].id.get_offset(), f[path].id.get_storage_size()
with open(sys.argv[1], "r+b") as raw:  # zero 4 KiB in the middle, behind HDF5's back
    raw.seek(offset + nbytes // 2)
    raw.write(b"\0" * min(4096, nbytes // 2))
print(entry["subject"])
PY
)
run_dwipack 2 create "${ARGS[@]}" --resume -v INFO
expect_rc 0 "resume after the simulated data loss"
expect_out "subject '$victim' is redone" "the damaged subject is redone"
diffs=$(same_content "$WORK/reference.hdf5" "$WORK/out.hdf5") || fail "resume after data loss differs: $diffs"
pass "a journaled subject with damaged data ('$victim') is detected by its CRC and redone"

# --resume on a complete output: nothing to do.
run_dwipack 0 create "${ARGS[@]}" --resume -v INFO
expect_rc 0 "--resume on a complete file"
expect_out "nothing to do" "--resume on a complete file"
pass "--resume with a complete output does nothing"

# A partial file left by a run of another layout (its journal's digest differs), and one whose
# journal is garbage: never reopened; the run starts over and still gives the reference content.
rm -f "$WORK/out.hdf5"
cp "$WORK/reference.hdf5" "$WORK/out.hdf5.partial"
echo '{"journal":"dwipack resume journal","version":1,"layout":"0000000000000000"}' >"$WORK/out.hdf5.partial.journal"
run_dwipack 3 create "${ARGS[@]}" --resume -v INFO
expect_rc 0 "--resume with a partial file of another layout"
expect_out "layout differs" "--resume with a partial file of another layout"
expect_out "starting from scratch" "--resume with a partial file of another layout"
diffs=$(same_content "$WORK/reference.hdf5" "$WORK/out.hdf5") || fail "start-over after a foreign partial: $diffs"
rm -f "$WORK/out.hdf5"
head -c 5000 "$WORK/reference.hdf5" >"$WORK/out.hdf5.partial"
echo 'not json' >"$WORK/out.hdf5.partial.journal"
run_dwipack 0 create "${ARGS[@]}" --resume -v INFO
expect_rc 0 "--resume with a garbage journal"
expect_out "no valid first line" "--resume with a garbage journal"
diffs=$(same_content "$WORK/reference.hdf5" "$WORK/out.hdf5") || fail "start-over after a garbage journal: $diffs"
pass "--resume never reopens a partial file of another layout or with an unreadable journal"
