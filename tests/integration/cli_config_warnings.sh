#!/usr/bin/env bash
# Config messages as a user sees them: an unknown key is warned once per run (on 1 and 3 ranks),
# with the known key it is probably a misspelling of; a missing required key whose misspelling is
# present says so, and nothing is written.
source "$(dirname "$0")/lib.sh"
make_dataset 2 8,9,7 3
R=$D/dwi_ml_ready
LISTS=("${ARGS_LISTS[@]:1}")

# The generated config with a typo added: 'std_masks' beside 'std_mask' in group 'input'.
"$PYTHON" - "$D/config.json" "$WORK/typo.json" "$WORK/missing.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["input"]["std_masks"] = config["input"]["std_mask"]
json.dump(config, open(sys.argv[2], "w"), indent=1)
del config["input"]["std_masks"]
config["input"]["standardisation"] = config["input"].pop("standardization")
json.dump(config, open(sys.argv[3], "w"), indent=1)
PY

WANT="unknown key 'std_masks' in group 'input' (did you mean 'std_mask'?), ignored"
for np in 0 1 3; do
  run_dwipack "$np" create "$R" "$WORK/typo_$np.hdf5" "$WORK/typo.json" "${LISTS[@]}"
  expect_rc 0 "unknown key, $np rank(s)"
  expect_out "$WANT" "unknown key, $np rank(s)"
  n=$(grep -cF -- "$WANT" <<<"$OUT" || true)
  [ "$n" = 1 ] || fail "$np rank(s): the unknown key is warned $n times, expected once"$'\n'"$OUT"
done
pass "an unknown key is warned once, with a suggestion, on 1 and 3 ranks"

run_dwipack 3 create "$R" "$WORK/missing.hdf5" "$WORK/missing.json" "${LISTS[@]}"
expect_rc 1 "misspelt required key"
expect_out "config '$WORK/missing.json': /input: missing required key 'standardization'; found 'standardisation'" \
  "misspelt required key"
[ ! -e "$WORK/missing.hdf5" ] || fail "a config error left an output file"
pass "a missing required key names its misspelling"
