#!/usr/bin/env bash
# Progress reporting (issue 6): timestamped lines when stderr is a file (a SLURM log), a redrawn
# bar on a terminal (a pty made by script(1)), the JSON Lines log of --log_json, and the final
# summary line; with 1 and 3 ranks.
source "$(dirname "$0")/lib.sh"
make_dataset 4

# 1. stderr to a file: one timestamped line per subject, then the summary.
for np in 0 3; do
  out=$WORK/lines_np$np.hdf5
  run_dwipack "$np" create "$D/dwi_ml_ready" "$out" "${ARGS_LISTS[@]}" --log_json "$WORK/log_np$np.jsonl"
  expect_rc 0 "lines mode (np=$np)"
  for n in 1 2 3 4; do
    grep -qE "^\[[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\] progress: $n/4 subjects \([0-9]+%\), in [0-9.]+ MB/s, out [0-9.]+ MB/s, ETA [0-9:]{8}, last: sub-0[1-4] by rank [0-9]+ in [0-9.]+ s$" <<<"$OUT" \
      || fail "np=$np: no progress line for $n/4"$'\n'"$OUT"
  done
  expect_out "dwipack: 4 subjects written (0 kept, 0 skipped): " "np=$np: summary line"
  grep -qE "peak RSS per rank: [0-9]+(/[0-9]+){$((np == 0 ? 0 : np - 1))} MB" <<<"$OUT" \
    || fail "np=$np: summary lacks one peak RSS per rank"$'\n'"$OUT"
  ! grep -q $'\r' <<<"$OUT" || fail "np=$np: carriage returns in a log file"
  # 2. The JSON log: one valid record per line; start, one per subject, summary.
  "$PYTHON" - "$WORK/log_np$np.jsonl" "$np" <<'PY' || fail "np=$np: JSON log"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
np_ = int(sys.argv[2]) or 1
assert [r["type"] for r in records] == ["start"] + ["subject"] * 4 + ["summary"], [r["type"] for r in records]
assert records[0]["subjects"] == 4 and records[0]["ranks"] == np_
subjects = records[1:5]
assert sorted(r["subject"] for r in subjects) == ["sub-01", "sub-02", "sub-03", "sub-04"]
for r in subjects:
    assert r["status"] == "written" and r["seconds"] >= 0 and r["bytes_in"] > 0 and r["bytes_out"] > 0, r
    assert set(r["stages"]) == {"input", "wm_mask", "bundles", "tracking"}, r["stages"]
    assert (r["rank"] == 0) if np_ == 1 else (1 <= r["rank"] < np_), r["rank"]
summary = records[-1]
assert summary["subjects_written"] == 4 and len(summary["peak_rss_bytes_per_rank"]) == np_, summary
assert summary["bytes_out"] == sum(r["bytes_out"] for r in subjects)
PY
  pass "np=$np: progress lines, summary and JSON log"
done

# 3. A terminal: the bar is redrawn in place ('\r') and ends with a newline before the summary.
TTY_OUT=$(script -qec "$DWIPACK create $D/dwi_ml_ready $WORK/tty.hdf5 ${ARGS_LISTS[*]}" /dev/null)
grep -q $'\r' <<<"$TTY_OUT" || fail "terminal: no carriage return (bar not redrawn)"$'\n'"$TTY_OUT"
grep -qF "100% [" <<<"$TTY_OUT" || fail "terminal: no complete bar"$'\n'"$TTY_OUT"
grep -qF "4/4 subjects" <<<"$TTY_OUT" || fail "terminal: no subject count"
grep -qE "^dwipack: 4 subjects written" <<<"$(tr '\r' '\n' <<<"$TTY_OUT")" || fail "terminal: summary not on its own line"
! grep -qF "] progress:" <<<"$TTY_OUT" || fail "terminal: timestamped lines instead of the bar"
[ -f "$WORK/tty.hdf5" ] || fail "terminal run wrote no file"
pass "terminal: a redrawn progress bar, then the summary"

# 4. --log_json into a folder that does not exist: an input error, nothing written.
run_dwipack 3 create "$D/dwi_ml_ready" "$WORK/nolog.hdf5" "${ARGS_LISTS[@]}" --log_json "$WORK/no/such/log.jsonl"
expect_rc 1 "--log_json in a missing folder"
expect_out "no/such/log.jsonl" "--log_json error names the file"
[ ! -e "$WORK/nolog.hdf5" ] && [ ! -e "$WORK/nolog.hdf5.partial" ] || fail "--log_json failure left a file"
pass "an unwritable --log_json is an input error naming the file"
