#!/usr/bin/env bash
# Interrupts as users and schedulers deliver them, once a subject is complete:
#   Ctrl-C typed into the terminal of `mpiexec -n 3` (a pty: SIGINT reaches mpiexec only, which
#   sends SIGTERM to the ranks 1 s later and SIGKILL 1 s after that), and of a 1-rank run;
#   SIGTERM to mpiexec; SIGTERM to one worker rank; SIGTERM to rank 0 alone.
# Each must stop within 2 s of the signal reaching a rank, keep the partial file and its journal,
# report the stopped subjects as "interrupted" (never "failed") in the progress lines, the summary
# and --log_json, and end with the line that says what is complete and the exact command to
# continue. Where the launcher lets it through, the exit status is dwipack's 4. Every run is then
# resumed (alternating 1 and 3 ranks) to the content of an uninterrupted run.
source "$(dirname "$0")/lib.sh"
export SOURCE_DATE_EPOCH=1764000000
# Streamline compression makes each subject take about a second: the signal finds work to stop.
"$DWIPACK" synth "$WORK/data" --subjects 5 --shape 16,18,14 --frames 6 --shape_step 2 --gzip_level 1 \
  --streamlines 60000 --mean_points 40 >/dev/null
D=$WORK/data
OUTF=$WORK/out.hdf5
ARGS=("$D/dwi_ml_ready" "$OUTF" "$D/config.json" "$D/training_subjs.txt" "$D/validation_subjs.txt"
  "$D/testing_subjs.txt" --compress 0.01 --log_json "$WORK/log.jsonl")

run_dwipack 3 create "${ARGS[@]}"
expect_rc 0 "reference run"
mv "$OUTF" "$WORK/reference.hdf5"

# interrupt HOW NP MAX_SECONDS EXPECTED_RC: MAX_SECONDS from the signal to dwipack's last line;
# every rank must be gone 1.5 s later (mpiexec kills what is left 1 s after its SIGTERM).
interrupt() {
  local how=$1 np=$2 max=$3 want_rc=$4 cmd result rc stopped gone
  rm -f "$OUTF"* "$WORK/log.jsonl"
  if [ "$np" = 0 ]; then cmd=("$DWIPACK" create "${ARGS[@]}"); else cmd=("$MPIEXEC" -n "$np" "$DWIPACK" create "${ARGS[@]}"); fi
  result=$("$PYTHON" "$TESTS_DIR/python/signal_run.py" "$how" "$OUTF.partial.journal" "$WORK/run.log" -- "${cmd[@]}")
  OUT=$(tr -d '\r' <"$WORK/run.log")
  rc=${result#rc=} && rc=${rc%% *}
  stopped=${result#*stopped=} && stopped=${stopped%% *}
  gone=${result##*gone=}
  if [ -e "$OUTF" ]; then
    echo "note: $how (np=$np): the run completed before the signal took effect (rc $rc)"
    return 1
  fi
  [ "$rc" = "$want_rc" ] || fail "$how (np=$np): exit status $rc, expected $want_rc"$'\n'"$OUT"
  (($(echo "$stopped >= 0 && $stopped <= $max" | bc))) || fail "$how (np=$np): stopped after $stopped s (at most $max)"$'\n'"$OUT"
  (($(echo "$gone <= $max + 1.5" | bc))) || fail "$how (np=$np): ranks still there $gone s after the signal"
  [ -f "$OUTF.partial" ] && [ -f "$OUTF.partial.journal" ] || fail "$how (np=$np): partial file or journal missing"
  expect_out "interrupted by SIG" "$how (np=$np): the stop is reported"
  grep -q "failed" <<<"$OUT" && fail "$how (np=$np): a subject is reported failed"$'\n'"$OUT"
  # The last line: what is complete, and the command that continues.
  # (dwipack's: mpiexec's own report, between lines of dashes, may follow it)
  last=$(sed '/^-----/,$d' <<<"$OUT" | grep -v '^\s*$' | tail -1)
  grep -qE "subject\(s\) are complete in '$OUTF.partial' .*To continue: .*$DWIPACK create .* --resume$" <<<"$last" \
    || fail "$how (np=$np): the last line does not say what is complete and how to continue: $last"$'\n'"$OUT"
  [ "$np" = 0 ] || grep -q "To continue: mpirun -n $np " <<<"$last" || fail "$how (np=$np): no launcher in: $last"
  "$PYTHON" - "$WORK/log.jsonl" <<'PY' || fail "$how (np=$np): --log_json"$'\n'"$(cat "$WORK/log.jsonl")"
import json, sys
records = [json.loads(l) for l in open(sys.argv[1])]
statuses = [r["status"] for r in records if r["type"] == "subject"]
assert "failed" not in statuses, statuses
summary = [r for r in records if r["type"] == "summary"]
assert summary and summary[-1]["subjects_failed"] == 0, summary
assert summary[-1]["subjects_interrupted"] == statuses.count("interrupted"), (summary, statuses)
PY
  pass "$how (np=$np): exit status $rc, stopped $stopped s after the signal (ranks gone after $gone s), partial file and journal kept, last line says how to continue"
  return 0
}

resume_np=3
resume() {
  resume_np=$((resume_np == 3 ? 0 : 3))
  run_dwipack "$resume_np" create "${ARGS[@]}" --resume
  expect_rc 0 "$1: --resume (np=$resume_np)"
  diffs=$(same_content "$WORK/reference.hdf5" "$OUTF") || fail "$1: resumed file differs: $diffs"
  pass "$1: resumed with np=$resume_np to the uninterrupted run's content"
}

# Ctrl-C to mpiexec: it relays SIGTERM 1 s later and kills the ranks 1 s after that, and exits 1
# whatever the ranks return. To 1 rank: SIGINT itself, dwipack's exit status 4.
interrupt ctrl-c 3 3 1 && resume "Ctrl-C to mpiexec -n 3"
interrupt ctrl-c 0 2 4 && resume "Ctrl-C to dwipack (1 rank)"
interrupt term-launcher 3 3 1 && resume "SIGTERM to mpiexec"
interrupt term-rank=2 3 2 4 && resume "SIGTERM to rank 2"
interrupt term-rank=0 3 2 4 && resume "SIGTERM to rank 0"
