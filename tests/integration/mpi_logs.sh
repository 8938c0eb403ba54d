#!/usr/bin/env bash
# What -v prints, on 1 and 3 ranks: INFO reports each subject once (its progress line), DEBUG adds
# lines INFO does not have (the config, the plan, each subject's time per group), every duration in
# the log is rounded (at most 2 decimals in a line, 3 in the JSON log), and the JSON log's times too.
source "$(dirname "$0")/lib.sh"
make_dataset 3 10,11,9 3
ARGS=("$D/dwi_ml_ready" "$WORK/out.hdf5" "${ARGS_LISTS[@]}" -f)
SUBJECTS=(sub-01 sub-02 sub-03)

for np in 0 3; do
  run_dwipack "$np" create "${ARGS[@]}" -v INFO --log_json "$WORK/info_$np.jsonl"
  expect_rc 0 "-v INFO, np=$np"
  INFO=$OUT
  run_dwipack "$np" create "${ARGS[@]}" -v DEBUG
  expect_rc 0 "-v DEBUG, np=$np"
  DEBUG=$OUT

  # INFO: one line per subject, the progress line
  for s in "${SUBJECTS[@]}"; do
    n=$(grep -c "$s" <<<"$INFO" || true)
    [ "$n" = 1 ] || fail "np=$np: -v INFO mentions $s on $n lines, expected 1 (its progress line)"$'\n'"$INFO"
    grep -qE "progress: [0-9]/3 subjects .*last: $s by rank [0-9] in [0-9]+\.[0-9]{1,2} s$" <<<"$INFO" \
      || fail "np=$np: no progress line for $s"$'\n'"$INFO"
  done
  ! grep -q "DEBUG:" <<<"$INFO" || fail "np=$np: -v INFO printed DEBUG lines"
  expect_out "INFO: planned 3 subject(s) in " "np=$np: -v INFO"
  # DEBUG: more than INFO (the INFO lines, and the config, the plan, each subject's groups)
  [ "$(grep -c "INFO:" <<<"$DEBUG")" = "$(grep -c "INFO:" <<<"$INFO")" ] || fail "np=$np: DEBUG lacks INFO lines"
  OUT=$DEBUG
  expect_out "DEBUG: config '$D/config.json': 4 group(s): input (volume), wm_mask (volume), bundles (streamlines), tracking (streamlines)" \
    "np=$np: -v DEBUG config"
  for s in "${SUBJECTS[@]}"; do
    expect_out "DEBUG: plan: subject '$s': 4 group(s), " "np=$np: -v DEBUG plan"
    grep -qE "DEBUG: subject '$s' written by rank [0-9] in [0-9.]+ s \([1-3]/3\); per group: bundles [0-9.]+ s, input [0-9.]+ s, tracking [0-9.]+ s, wm_mask [0-9.]+ s$" <<<"$DEBUG" \
      || fail "np=$np: no DEBUG line with $s's time per group"$'\n'"$DEBUG"
  done
  [ "$(wc -l <<<"$DEBUG")" -ge $(($(wc -l <<<"$INFO") + 8)) ] || fail "np=$np: -v DEBUG is not longer than -v INFO"
  # durations rounded in the text...
  if grep -E '[0-9]\.[0-9]{3,} ?s\b' <<<"$INFO$DEBUG"; then fail "np=$np: a duration with 3 or more decimals"; fi
  # ...and to the millisecond in the JSON log
  "$PYTHON" - "$WORK/info_$np.jsonl" <<'PY' || fail "np=$np: JSON log times not rounded"
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
subjects = [r for r in records if r["type"] == "subject"]
assert len(subjects) == 3, subjects
for r in subjects:
    for value in [r["seconds"], r["elapsed_seconds"], *r["stages"].values()]:
        assert round(value, 3) == value, (r["subject"], value)
PY
  pass "np=$np: INFO reports each subject once, DEBUG more, durations rounded"
done
