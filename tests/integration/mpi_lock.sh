#!/usr/bin/env bash
# One writer per output. While a run (3 ranks) writes OUT.hdf5, a second run on the same output
# (1 rank, then 3 ranks; plain, -f and --resume, what a resubmitted job does) is refused within
# seconds, naming the holder (host, pid, start time) and the lock file, and changes nothing (no
# config copy, the partial file untouched by it). The first run then completes, and its file is
# checked against the inputs (h5py + nibabel reference). A lock file left by a killed run (no
# process holds it) is taken over.
source "$(dirname "$0")/lib.sh"
"$DWIPACK" synth "$WORK/data" --subjects 4 --shape 20,22,18 --frames 6 --shape_step 2 --gzip_level 1 \
  --streamlines 60000 --mean_points 40 >/dev/null
D=$WORK/data
LISTS=("$D/config.json" "$D/training_subjs.txt" "$D/validation_subjs.txt" "$D/testing_subjs.txt")
OUTF=$WORK/out.hdf5

# Run A.
timeout 120 "$MPIEXEC" -n 3 "$DWIPACK" create "$D/dwi_ml_ready" "$OUTF" "${LISTS[@]}" \
  >"$WORK/a.log" 2>&1 &
first=$!
for i in $(seq 400); do [ -e "$OUTF.partial" ] && break; sleep 0.02; done
[ -e "$OUTF.partial" ] || fail "the first run did not start writing"$'\n'"$(cat "$WORK/a.log")"
# Frozen while the others try (SIGSTOP to its ranks; the lock stays held), thawed afterwards.
ranks=$(pgrep -f -- "^$DWIPACK create $D/dwi_ml_ready $OUTF " || true)
[ "$(wc -w <<<"$ranks")" = 3 ] || fail "expected the 3 ranks of the first run, found: $ranks"
kill -STOP $ranks
trap 'kill -CONT $ranks 2>/dev/null || true; rm -rf "$WORK"' EXIT # under set -e a failing kill (ranks gone) would set the exit status
rm -f "$WORK/out.json" # the config copy: a refused run must not write it again

for np in 0 3; do
  for extra in "" "-f" "--resume"; do
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    run_dwipack "$np" create "$D/dwi_ml_ready" "$OUTF" "${LISTS[@]}" $extra
    took=$(echo "$(date +%s.%N) - $start" | bc)
    kill -0 "$first" 2>/dev/null || fail "the first run ended before the second was tried (make it slower)"
    expect_rc 1 "np=$np $extra: a second run on a held output"
    expect_out "is being written by another run (host $(hostname)" "np=$np $extra: the holder's host"
    expect_out ", pid " "np=$np $extra: the holder's pid"
    expect_out ", started " "np=$np $extra: the holder's start time"
    expect_out "lock file '$OUTF.lock'" "np=$np $extra: the lock file"
    [ ! -e "$WORK/out.json" ] || fail "np=$np $extra: the refused run copied the config"
    (($(echo "$took < 10" | bc))) || fail "np=$np $extra: refusal took $took s"
    pass "np=$np ${extra:-(plain)}: refused in $took s, holder named, nothing written"
  done
done

kill -CONT $ranks
set +e
wait "$first"
rc=$?
set -e
[ "$rc" = 0 ] || fail "the first run failed (rc $rc)"$'\n'"$(cat "$WORK/a.log")"
[ ! -e "$OUTF.partial" ] && [ ! -e "$OUTF.lock" ] || fail "partial or lock file left after the first run"
"$PYTHON" "$TESTS_DIR/python/check_output.py" "$OUTF" "$D/dwi_ml_ready" "${LISTS[@]}" || fail "the first run's file does not check"
pass "the first run completed undisturbed; its file checks against the inputs"

# A lock file whose holder is gone (killed without cleanup): taken over.
echo "host elsewhere, pid 1, started long ago" >"$WORK/stale.hdf5.lock"
run_dwipack 3 create "$D/dwi_ml_ready" "$WORK/stale.hdf5" "${LISTS[@]}"
expect_rc 0 "a stale lock file"
[ -f "$WORK/stale.hdf5" ] && [ ! -e "$WORK/stale.hdf5.lock" ] || fail "stale lock: output missing or lock left"
pass "a lock file nobody holds is taken over (and removed at the end)"
