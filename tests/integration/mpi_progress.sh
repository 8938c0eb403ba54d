#!/usr/bin/env bash
# Progress reporting (issue 6): timestamped lines when stderr is a file (a SLURM log), a redrawn
# bar on a terminal (a pty made by script(1)), with a second bar for --compression's compression
# phase, the JSON Lines log of --log_json, and the final summary line, whose "out" bytes are the
# output file's size; with 1 and 3 ranks.
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
  "$PYTHON" - "$WORK/log_np$np.jsonl" "$np" "$out" <<'PY' || fail "np=$np: JSON log"
import json, os, sys
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
assert summary["bytes_out"] == os.path.getsize(sys.argv[3]), (summary["bytes_out"], os.path.getsize(sys.argv[3]))
assert summary["bytes_in"] == sum(r["bytes_in"] for r in subjects)
PY
  # The summary line's "out" is the file's size too (in the unit of the larger of in and out).
  line=$(grep "^dwipack: 4 subjects written" <<<"$OUT")
  size=$(stat -c %s "$out")
  "$PYTHON" - "$line" "$size" <<'PY' || fail "np=$np: the summary line's out is not the file's size"$'\n'"$line"
import re, sys
line, size = sys.argv[1], int(sys.argv[2])
m = re.search(r"\): ([0-9.]+) (B|kB|MB|GB) in, ([0-9.]+) (B|kB|MB|GB) out, ", line)
assert m, line
per = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[m.group(4)]
assert f"{size / per:.{0 if per == 1 else 1}f}" == m.group(3), (m.group(3), size)
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

# 3b. A terminal with --compression: the subjects' bar ends at 100% on its own line, then a second
# bar for the compression phase, redrawn in place, ends at 100%, then the summary.
TTY_OUT=$(script -qec "$DWIPACK create $D/dwi_ml_ready $WORK/tty_gzip.hdf5 ${ARGS_LISTS[*]} --compression gzip:1" \
  /dev/null)
[ -f "$WORK/tty_gzip.hdf5" ] || fail "terminal, --compression: no file"$'\n'"$TTY_OUT"
"$PYTHON" - "$TTY_OUT" <<'PY' || fail "terminal, --compression: bars"$'\n'"$TTY_OUT"
import re, sys
# The pty turns "\n" into "\r\n"; within a screen line, each draw starts with "\r".
lines = [l for l in sys.argv[1].replace("\r\n", "\n").split("\n") if l]
assert len(lines) == 3, lines  # the subjects' bar, the compression bar, the summary
draws = [[d for d in l.split("\r") if d not in ("", "\x1b[K")] for l in lines[:2]]  # not the clears
bar = r"^ *\d+% \[[#.]+\] "
assert all(re.match(bar + r" *\d+/4 subjects, ", d) for d in draws[0]), draws[0]
assert re.match(r"^100% \[#+\]  ?4/4 subjects, .*ETA 00:00:00\x1b\[K$", draws[0][-1]), draws[0][-1]
amount = r"([0-9.]+)/([0-9.]+) (B|kB|MB)"
assert all(re.match(bar + r"compression +" + amount + r", +[0-9.]+ MB/s, ETA [0-9:-]{8}\x1b\[K$", d)
           for d in draws[1]), draws[1]
last = re.match(r"^100% \[#+\] compression +" + amount + r", +[0-9.]+ MB/s, ETA 00:00:00\x1b\[K$", draws[1][-1])
assert last and last.group(1) == last.group(2), draws[1][-1]
assert lines[2].startswith("dwipack: 4 subjects written"), lines[2]
PY
! grep -qF "] progress:" <<<"$TTY_OUT" || fail "terminal, --compression: timestamped lines instead of the bar"
pass "terminal, --compression: the subjects' bar, then a compression bar to 100%, then the summary"

# 4. --log_json into a folder that does not exist: an input error, nothing written.
run_dwipack 3 create "$D/dwi_ml_ready" "$WORK/nolog.hdf5" "${ARGS_LISTS[@]}" --log_json "$WORK/no/such/log.jsonl"
expect_rc 1 "--log_json in a missing folder"
expect_out "no/such/log.jsonl" "--log_json error names the file"
[ ! -e "$WORK/nolog.hdf5" ] && [ ! -e "$WORK/nolog.hdf5.partial" ] || fail "--log_json failure left a file"
pass "an unwritable --log_json is an input error naming the file"
