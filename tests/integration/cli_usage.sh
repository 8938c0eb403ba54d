#!/usr/bin/env bash
# Each entry name shows its own usage: --help under dwipack's subcommands and dwi_ml's command
# names, and after a usage error only that command's usage line (not the general help). Options
# are spelled with underscores in every help; the hyphen spelling (--dry-run) is accepted too, and
# an unknown option or command suggests the close known one.
source "$(dirname "$0")/lib.sh"
make_dataset 2 8,9,7 3
R=$D/dwi_ml_ready
BIN=$(dirname "$DWIPACK")

# run_entry NAME ARGS...: the binary under the command name NAME (a symlink in the build), alone.
run_entry() {
  local name=$1; shift
  local cmd
  if [ "$name" = dwipack ]; then cmd=("$DWIPACK"); else cmd=("$BIN/$name"); fi
  [ -x "${cmd[0]}" ] || fail "the build has no ${cmd[0]}"
  set +e
  OUT=$(timeout 60 "${cmd[@]}" "$@" 2>&1)
  RC=$?
  set -e
}
lacks() { ! grep -qF -- "$1" <<<"$OUT" || fail "$2: output has '$1'"$'\n'"$OUT"; }
first_line_is() { [ "$(head -1 <<<"$OUT")" = "$1" ] || fail "$2: first line is '$(head -1 <<<"$OUT")', expected '$1'"; }

# --- --help under every entry name: its own usage line, with its own name
CREATE_ARGS="DWI_ML_READY OUT_HDF5 CONFIG TRAINING VALIDATION TESTING [options]"
run_entry dwiml_create_hdf5_dataset --help; expect_rc 0 "dwiml_create_hdf5_dataset --help"
first_line_is "Usage: [mpirun -n N] dwiml_create_hdf5_dataset $CREATE_ARGS" "dwiml_create_hdf5_dataset --help"
lacks "dwipack create" "dwiml_create_hdf5_dataset --help"
run_entry dwipack create --help; expect_rc 0 "dwipack create --help"
first_line_is "Usage: [mpirun -n N] dwipack create $CREATE_ARGS" "dwipack create --help"
for name in create_hdf5_dataset create_hdf5_dataset.py; do
  run_entry "$name" --help; expect_rc 0 "$name --help"
  first_line_is "Usage: [mpirun -n N] $name [--force] [--name NAME] [--std_mask MASK]" "$name --help"
  expect_out "DATABASE_FOLDER CONFIG TRAINING VALIDATION" "$name --help"
done
run_entry dwipack synth --help; expect_rc 0 "synth --help"; first_line_is "Usage: dwipack synth OUT_DIR [options]" "synth --help"
run_entry dwipack inspect --help; expect_rc 0 "inspect --help"
first_line_is "Usage: dwipack inspect FILE.hdf5 [--all] [--json]" "inspect --help"
run_entry dwipack extract --help; expect_rc 0 "extract --help"
first_line_is "Usage: dwipack extract FILE.hdf5 SUBJECT GROUP OUT [-f]" "extract --help"
pass "--help: each entry name shows its own usage"

# --- a usage error: "<name>: error: ...", then that command's usage line and where the options are
# expect_usage_error NAME "USAGE LINE" ERROR: exit 1, the error, the usage, nothing of the general help
expect_usage_error() {
  expect_rc 1 "$1: usage error"
  first_line_is "$1: error: $3" "$1: usage error"
  expect_out "$2" "$1: usage error"
  expect_out "Run '$1 --help' for the options." "$1: usage error"
  lacks "build dwi_ml HDF5 training files" "$1: usage error (the general help)"
  [ "$(wc -l <<<"$OUT")" -le 8 ] || fail "$1: the usage error takes $(wc -l <<<"$OUT") lines"$'\n'"$OUT"
}
run_entry dwipack create --nb_points 1
expect_usage_error "dwipack create" "Usage: [mpirun -n N] dwipack create $CREATE_ARGS" \
  "expected 6 positional arguments (DWI_ML_READY OUT_HDF5 CONFIG TRAINING VALIDATION TESTING), got 0"
run_entry dwipack create "$R" "$WORK/o.hdf5" "${ARGS_LISTS[@]}" --nb_points 1
expect_usage_error "dwipack create" "Usage: [mpirun -n N] dwipack create $CREATE_ARGS" "--nb_points must be at least 2"
run_entry dwiml_create_hdf5_dataset "$R" "$WORK/o.hdf5" "${ARGS_LISTS[@]}" --nb_points 1
expect_usage_error dwiml_create_hdf5_dataset "Usage: [mpirun -n N] dwiml_create_hdf5_dataset $CREATE_ARGS" \
  "--nb_points must be at least 2"
run_entry create_hdf5_dataset.py "$WORK" "$D/config.json" "$D/training_subjs.txt" "$D/validation_subjs.txt" --space ras
expect_usage_error create_hdf5_dataset.py "Usage: [mpirun -n N] create_hdf5_dataset.py [--force]" \
  "--space must be vox, voxmm or rasmm, got 'ras'"
run_entry dwipack inspect
expect_usage_error "dwipack inspect" "Usage: dwipack inspect FILE.hdf5 [--all] [--json]" \
  "expected 1 positional argument (FILE), got 0"
run_entry dwipack extract "$WORK/x.hdf5" sub-01
expect_usage_error "dwipack extract" "Usage: dwipack extract FILE.hdf5 SUBJECT GROUP OUT [-f]" \
  "expected 4 positional arguments (FILE SUBJECT GROUP OUT), got 2"
run_entry dwipack synth
expect_usage_error "dwipack synth" "Usage: dwipack synth OUT_DIR [options]" \
  "expected 1 positional argument (OUT_DIR), got 0"
# under mpirun: printed once (rank 0), the usage of the command
run_dwipack 3 create --nb_points 1
expect_rc 1 "usage error under mpirun"
[ "$(grep -c "^Usage: " <<<"$OUT")" = 1 ] || fail "usage printed $(grep -c "^Usage: " <<<"$OUT") times under mpirun"
expect_out "Usage: [mpirun -n N] dwipack create $CREATE_ARGS" "usage error under mpirun"
# an unknown command: the general help, with the command it is closest to
run_entry dwipack craete
expect_rc 1 "unknown command"; first_line_is "dwipack: error: unknown command 'craete' (did you mean 'create'?)" "unknown command"
expect_out "build dwi_ml HDF5 training files" "unknown command shows the general help"
pass "usage errors show the command's own usage"

# --- option spelling: underscores in every help; the hyphen spelling is accepted
for entry in "dwipack create" "dwipack synth" "dwipack inspect" "dwipack extract" dwiml_create_hdf5_dataset \
  create_hdf5_dataset create_hdf5_dataset.py; do
  # shellcheck disable=SC2086 # "dwipack create" is two words on purpose
  run_entry $entry --help
  expect_rc 0 "$entry --help"
  # the option names Boost lists ("  --dry_run", "  -f [ --force ]"), without their leading "--"
  names=$(sed -n '/^Options:/,$p' <<<"$OUT" | grep -oE -- '(^  |\[ )--[a-z][a-z0-9_-]*' | sed 's/^.*--//' | sort -u)
  [ "$(wc -l <<<"$names")" -ge 2 ] || fail "$entry --help: options not found"$'\n'"$OUT"
  hyphenated=$(grep -- '-' <<<"$names" || true)
  [ -z "$hyphenated" ] || fail "$entry --help lists options with hyphens: $hyphenated"
done
run_entry dwipack create --help; expect_out "--dry_run" "create --help lists --dry_run"; lacks "--dry-run" "create --help"
mkdir "$WORK/dry"
for spelling in --dry_run --dry-run; do
  run_dwipack 0 create "$R" "$WORK/dry/out" "${ARGS_LISTS[@]}" "$spelling"
  expect_rc 0 "$spelling"; expect_out "nothing was written" "$spelling"
  [ -z "$(ls -A "$WORK/dry")" ] || fail "$spelling wrote $(ls "$WORK/dry")"
done
run_dwipack 0 create "$R" "$WORK/dry/out" "${ARGS_LISTS[@]}" --dry-run --skip-enforce-files-presence --on-error=skip
expect_rc 0 "hyphen spellings of other options"; expect_out "nothing was written" "hyphen spellings"
run_dwipack 0 create "$R" "$WORK/dry/out" "${ARGS_LISTS[@]}" --dry_rn
expect_rc 1 "misspelt option"; expect_out "unrecognised option '--dry_rn' (did you mean '--dry_run'?)" "misspelt option"
run_dwipack 0 create "$R" "$WORK/dry/out" "${ARGS_LISTS[@]}" --bogus
expect_rc 1 "unknown option"; expect_out "unrecognised option '--bogus'" "unknown option"; lacks "did you mean" "unknown option"
pass "options: underscores in every help, --dry-run and --dry_run both accepted, suggestions"
