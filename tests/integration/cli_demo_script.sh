#!/usr/bin/env bash
# scripts/demo.sh DIR never deletes a folder it did not make: a non-empty folder without its marker
# file (or a path that is not a folder) is refused before anything is installed, built or removed;
# an empty folder is used, and a folder it made before is emptied and used again. DWIPACK (the
# binary under test) skips the install and build steps.
source "$(dirname "$0")/lib.sh"
DEMO=$TESTS_DIR/../scripts/demo.sh

run_demo() {
  set +e
  OUT=$(DWIPACK="$DWIPACK" timeout 240 bash "$DEMO" "$1" 2>&1)
  RC=$?
  set -e
}

# a folder of the user's: refused, untouched
mkdir -p "$WORK/mine/sub"
echo "precious" > "$WORK/mine/notes.txt"
echo "data" > "$WORK/mine/sub/data.bin"
before=$(cd "$WORK/mine" && find . -exec stat -c '%n %s %Y' {} + | sort)
run_demo "$WORK/mine"
expect_rc 1 "a non-empty folder without the marker"
expect_out "demo: '$WORK/mine' is not empty and was not made by this script (no .dwipack-demo in it)" \
  "a non-empty folder without the marker"
[ "$(cd "$WORK/mine" && find . -exec stat -c '%n %s %Y' {} + | sort)" = "$before" ] \
  || fail "the user's folder was modified"
# a file: refused, untouched
echo "not a folder" > "$WORK/file"
run_demo "$WORK/file"
expect_rc 1 "a file"; expect_out "demo: '$WORK/file' exists and is not a folder" "a file"
[ "$(cat "$WORK/file")" = "not a folder" ] || fail "the file was modified"
pass "refuses a non-empty folder without its marker, and a file; both untouched"

# an empty folder: used, and marked
mkdir "$WORK/empty"
run_demo "$WORK/empty"
expect_rc 0 "an empty folder"; expect_out "== the file is $WORK/empty/dataset.hdf5" "an empty folder"
[ -f "$WORK/empty/.dwipack-demo" ] || fail "no marker file in the demo's folder"
"$PYTHON" -c "import h5py, sys; sys.exit(len(h5py.File('$WORK/empty/dataset.hdf5', 'r')) != 6)" \
  || fail "the demo's file does not hold 6 subjects"
# its own folder again: emptied (a file added since is gone) and used
echo "stray" > "$WORK/empty/stray.txt"
run_demo "$WORK/empty"
expect_rc 0 "the demo's own folder"
[ ! -e "$WORK/empty/stray.txt" ] || fail "the demo's own folder was not emptied"
[ -f "$WORK/empty/.dwipack-demo" ] && [ -f "$WORK/empty/dataset.hdf5" ] || fail "second run: marker or file missing"
pass "uses an empty folder, marks it, and reuses a folder it made"
