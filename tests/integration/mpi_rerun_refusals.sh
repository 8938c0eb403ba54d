#!/usr/bin/env bash
# What a re-run must refuse or report before it touches anything, on 1 and 3 ranks:
# - a partial file (and journal) of an unfinished run, without --resume or -f: refused, naming the
#   file and both choices, both files unchanged (checksums); with -f: discarded, and said so;
# - subject ids that are not plain folder names ('/', '..', '.', control characters, invalid
#   UTF-8): refused naming the list file and the line, before any input is read (the id points at
#   a folder whose files are broken: its error must not appear) and before anything is written;
# - --on_error skip: a missing subject folder is skipped with its reason like any failing subject,
#   and a list left without subjects is warned about.
source "$(dirname "$0")/lib.sh"
make_dataset 4
export SOURCE_DATE_EPOCH=1764000000
READY=$D/dwi_ml_ready

# --- a partial file without --resume / -f ---
run_dwipack 0 create "$READY" "$WORK/ref.hdf5" "${ARGS_LISTS[@]}"
expect_rc 0 "reference"
for np in 0 3; do
  out=$WORK/out$np.hdf5
  printf 'not really hdf5' >"$out.partial"
  echo '{"journal":"dwipack resume journal","version":1,"layout":"0"}' >"$out.partial.journal"
  before=$(md5sum "$out.partial" "$out.partial.journal")
  run_dwipack "$np" create "$READY" "$out" "${ARGS_LISTS[@]}"
  expect_rc 1 "np=$np: partial file without --resume or -f"
  expect_out "'$out.partial'" "np=$np: the partial file is named"
  expect_out "--resume to continue" "np=$np: --resume is offered"
  expect_out "-f to discard it" "np=$np: -f is offered"
  [ "$(md5sum "$out.partial" "$out.partial.journal")" = "$before" ] || fail "np=$np: the partial file or journal changed"
  [ ! -e "$out" ] && [ ! -e "${out%.hdf5}.json" ] || fail "np=$np: something was written"
  run_dwipack "$np" create "$READY" "$out" "${ARGS_LISTS[@]}" -f
  expect_rc 0 "np=$np: -f over a partial file"
  expect_out "discarding the partial file '$out.partial'" "np=$np: -f says the partial file was discarded"
  [ ! -e "$out.partial" ] && [ ! -e "$out.partial.journal" ] || fail "np=$np: partial file left"
  diffs=$(same_content "$WORK/ref.hdf5" "$out") || fail "np=$np: -f over a partial file: $diffs"
  pass "np=$np: a partial file is refused without --resume/-f (unchanged) and discarded with -f, saying so"
done

# --- subject ids that are not folder names ---
mkdir -p "$WORK/outside/sub_2"
printf 'broken' >"$WORK/outside/sub_2/broken.nii.gz" # reading anything here would fail loudly
bad_ids=("../outside/sub_2" "sub-01/anat" ".." "." $'sub\x01x' $'sub\xff' $'sub\xc3\x28')
for np in 0 3; do
  indexes=("${!bad_ids[@]}")
  [ "$np" = 0 ] || indexes=(0 2 4) # '/', '..' and a control character again under mpiexec
  for i in "${indexes[@]}"; do
    id=${bad_ids[$i]}
    # line 3 of the validation list (after a blank line and a good id)
    printf 'sub-02\n\n%s\n' "$id" >"$WORK/valid_bad.txt"
    grep -vx sub-02 "$D/training_subjs.txt" >"$WORK/train_bad.txt" || true
    out=$WORK/ids$np.hdf5
    run_dwipack "$np" create "$READY" "$out" "$D/config.json" "$WORK/train_bad.txt" "$WORK/valid_bad.txt" \
      "$D/testing_subjs.txt" --on_error skip
    expect_rc 1 "np=$np: id #$i"
    expect_out "subject list '$WORK/valid_bad.txt': line 3: subject id" "np=$np: id #$i: list and line named"
    expect_out "is not a plain folder name" "np=$np: id #$i: reason"
    grep -q "broken" <<<"$OUT" && fail "np=$np: id #$i: a file was read: $OUT"
    [ ! -e "$out" ] && [ ! -e "$out.partial" ] && [ ! -e "${out%.hdf5}.json" ] || fail "np=$np: id #$i: something was written"
  done
  pass "np=$np: ${#indexes[@]} ids that are not folder names refused, list and line named, nothing read or written"
done

# --- --on_error skip: a missing subject folder, and a list left empty ---
printf 'sub-01 sub-03\n' >"$WORK/train.txt"
printf 'sub-02\n' >"$WORK/valid.txt"
printf 'sub-04\nsub-99\n' >"$WORK/test.txt"
rm -rf "$READY/sub-04"
for np in 0 3; do
  out=$WORK/skip$np.hdf5
  run_dwipack "$np" create "$READY" "$out" "$D/config.json" "$WORK/train.txt" "$WORK/valid.txt" "$WORK/test.txt" \
    --on_error skip
  expect_rc 3 "np=$np: --on_error skip with missing folders"
  expect_out "subject 'sub-99'" "np=$np: the missing subject is named"
  expect_out "does not exist" "np=$np: the reason is given"
  expect_out "the testing list is empty in the file" "np=$np: the emptied list is warned about"
  "$PYTHON" - "$out" <<'PY' || fail "np=$np: the file's lists"
import json, sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    assert sorted(f.keys()) == ["sub-01", "sub-02", "sub-03"], sorted(f.keys())
    lists = {k: [str(x, "utf-8") if isinstance(x, bytes) else str(x) for x in f.attrs[k]]
             for k in ("training_subjs", "validation_subjs", "testing_subjs", "chosen_subjs")}
    assert lists["training_subjs"] == ["sub-01", "sub-03"], lists
    assert lists["validation_subjs"] == ["sub-02"], lists
    assert lists["testing_subjs"] == [], lists
    skipped = sorted(json.loads(r)["subject"] for r in f.attrs["dwipack_skipped_subjects"])
    assert skipped == ["sub-04", "sub-99"], skipped
PY
  pass "np=$np: --on_error skip skips missing subject folders with their reason; the emptied list is warned about"
done
run_dwipack 0 create "$READY" "$WORK/abort.hdf5" "$D/config.json" "$WORK/train.txt" "$WORK/valid.txt" "$WORK/test.txt"
expect_rc 1 "missing folders without --on_error skip"
expect_out "subject folder(s) missing" "missing folders without --on_error skip"
pass "without --on_error skip, missing subject folders stop the run before anything is written"
