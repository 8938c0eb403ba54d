#!/usr/bin/env bash
# Command-line contract: help, version, bad arguments, missing inputs, output naming rules,
# existing output without -f, and -f replacing a file only once the new one is complete.
source "$(dirname "$0")/lib.sh"
make_dataset 2 8,9,7 3
R=$D/dwi_ml_ready

run_dwipack 0 --help;          expect_rc 0 "--help";   expect_out "dwipack create DWI_ML_READY" "--help"
run_dwipack 0;                 expect_rc 1 "no args";  expect_out "Usage:" "no args"
run_dwipack 0 --version;       expect_rc 0 "--version"; expect_out "dwipack 0." "--version"
run_dwipack 0 create --help;   expect_rc 0 "create --help"; expect_out "--skip_enforce_files_presence" "create --help"
run_dwipack 0 frobnicate;      expect_rc 1 "unknown command"; expect_out "unknown command 'frobnicate'" "unknown command"
run_dwipack 0 create a b;      expect_rc 1 "2 positionals"; expect_out "expected 6 positional arguments" "positionals"
run_dwipack 0 create "$R" "$WORK/o.hdf5" "${ARGS_LISTS[@]}" --bogus
expect_rc 1 "unknown option"; expect_out "unrecognised option '--bogus'" "unknown option"
run_dwipack 0 create "$R" "$WORK/o.hdf5" "${ARGS_LISTS[@]}" -v LOUD
expect_rc 1 "bad -v"; expect_out "unknown log level 'LOUD'" "bad -v"
pass "help, version and argument errors"

run_dwipack 0 create "$WORK/nowhere" "$WORK/o.hdf5" "${ARGS_LISTS[@]}"
expect_rc 1 "missing root"; expect_out "dwi_ml_ready folder '$WORK/nowhere' does not exist" "missing root"
run_dwipack 0 create "$R" "$WORK/o.hdf5" "$WORK/none.json" "${ARGS_LISTS[@]:1}"
expect_rc 1 "missing config"; expect_out "none.json" "missing config"
run_dwipack 0 create "$R" "$WORK/o.hdf5" "$D/config.json" "$WORK/none.txt" "${ARGS_LISTS[@]:2}"
expect_rc 1 "missing list"; expect_out "none.txt" "missing list"
run_dwipack 0 create "$R" "$WORK/no/such/dir/o.hdf5" "${ARGS_LISTS[@]}"
expect_rc 1 "missing output folder"; expect_out "output folder '$WORK/no/such/dir' does not exist" "out dir"
run_dwipack 0 create "$R" "$WORK/o.h5" "${ARGS_LISTS[@]}"
expect_rc 1 ".h5 refused"; expect_out "extension '.h5' is not allowed" ".h5"
[ ! -e "$WORK/o.h5" ] || fail ".h5 output created"
pass "missing inputs and output rules"

# no extension: .hdf5 appended
run_dwipack 0 create "$R" "$WORK/plain" "${ARGS_LISTS[@]}"
expect_rc 0 "no extension"; [ -f "$WORK/plain.hdf5" ] || fail "'.hdf5' not appended"
# existing output without -f: refused, file untouched
before=$(md5sum < "$WORK/plain.hdf5")
run_dwipack 0 create "$R" "$WORK/plain.hdf5" "${ARGS_LISTS[@]}"
expect_rc 1 "existing output"; expect_out "already exists; use -f" "existing output"
[ "$(md5sum < "$WORK/plain.hdf5")" = "$before" ] || fail "existing output modified without -f"
# -f with a failing run (bad config) keeps the old file
echo '{"broken": ' > "$WORK/bad.json"
run_dwipack 0 create "$R" "$WORK/plain.hdf5" "$WORK/bad.json" "${ARGS_LISTS[@]:1}" -f
expect_rc 1 "-f with bad config"
[ "$(md5sum < "$WORK/plain.hdf5")" = "$before" ] || fail "-f destroyed the old file before a new one was complete"
# -f with a good run replaces it
export SOURCE_DATE_EPOCH=1000000000
run_dwipack 0 create "$R" "$WORK/plain.hdf5" "${ARGS_LISTS[@]}" -f
expect_rc 0 "-f"
"$PYTHON" -c "import h5py,sys; sys.exit(h5py.File('$WORK/plain.hdf5','r').attrs['data_and_time'] != '09 September 2001 01:46:40')" \
  || fail "-f did not replace the file (or data_and_time is not '%d %B %Y %X')"
pass "output naming, -f and existing files"

# the config is copied next to the output as <stem>.json, as dwi_ml does (even if checks fail later)
cmp -s "$D/config.json" "$WORK/plain.json" || fail "config not copied to plain.json"
run_dwipack 0 create "$R" "$WORK/copy_only.hdf5" "$D/config.json" "$WORK/none.txt" "${ARGS_LISTS[@]:2}"
expect_rc 1 "copy then fail"; cmp -s "$D/config.json" "$WORK/copy_only.json" || fail "config not copied before the list check"
cp "$D/config.json" "$WORK/same.json"
run_dwipack 0 create "$R" "$WORK/same.hdf5" "$WORK/same.json" "${ARGS_LISTS[@]:1}"
expect_rc 0 "config already at the copy path"
pass "config copy"

# --dry-run: every input checked, the plan printed, nothing written (not even the config copy)
mkdir "$WORK/dry"
run_dwipack 3 create "$R" "$WORK/dry/out" "${ARGS_LISTS[@]}" --dry-run
expect_rc 0 "--dry-run"; expect_out "nothing was written" "--dry-run"
expect_out "sub-01           input            volume" "--dry-run table"
[ -z "$(ls -A "$WORK/dry")" ] || fail "--dry-run wrote $(ls "$WORK/dry")"
mv "$R/sub-01/anat/t1.nii.gz" "$WORK/t1.moved"
run_dwipack 0 create "$R" "$WORK/dry/out" "${ARGS_LISTS[@]}" --dry-run
expect_rc 1 "--dry-run with a missing file"; expect_out "'anat/t1.nii.gz'" "--dry-run missing file"
mv "$WORK/t1.moved" "$R/sub-01/anat/t1.nii.gz"
[ -z "$(ls -A "$WORK/dry")" ] || fail "--dry-run (failing) wrote something"
pass "--dry-run"
