#!/usr/bin/env bash
# Volume path of `dwipack create` (issue 7): old vs new binary, interleaved, on generated data.
#   bench/volume_profile.sh OLD_BIN NEW_BIN [REPEAT] [WORKDIR]
# Generates (once) a 1-subject and a 3-subject dataset (96x114x96 x 64 frames DWI + T1 + WM mask),
# converts the volume groups only with both binaries in turn, prints wall / user / sys / peak RSS
# of every run and the medians, checks the outputs with h5diff, and times a plain single-core
# libdeflate decode of the 1-subject .nii.gz files (bench/limits.c) for the 1.43x target.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OLD=${1:?old binary}; NEW=${2:?new binary}; REPEAT=${3:-3}; W=${4:-/tmp/volprof}
mkdir -p "$W"; cd "$W"
for n in 1 3; do
  [[ -d d$n/dwi_ml_ready ]] ||
    "$NEW" synth "d$n" --subjects $n --shape 96,114,96 --shape_step 6 --frames 64 --streamlines 2 --mean_points 10 >/dev/null
  ls "d$n/dwi_ml_ready" >"list$n.txt"
done
: >empty.txt
cat >vol.json <<'JSON'
{"input": {"type": "volume", "files": ["dwi/dwi.nii.gz", "anat/t1.nii.gz"], "standardization": "per_file", "std_mask": ["masks/wm.nii.gz"]},
 "wm_mask": {"type": "volume", "files": ["masks/wm.nii.gz"], "standardization": "none"}}
JSON
run() { # label binary n rep
  rm -f "out-$1-$3.hdf5"
  cat "d$3"/dwi_ml_ready/*/*/*.nii.gz >/dev/null
  /usr/bin/time -f "%e %U %S %M" -o "time-$1-$3-$4.txt" \
    "$2" create "d$3/dwi_ml_ready" "out-$1-$3.hdf5" vol.json "list$3.txt" empty.txt empty.txt >/dev/null 2>&1
}
for n in 1 3; do
  for r in $(seq "$REPEAT"); do run old "$OLD" $n "$r"; run new "$NEW" $n "$r"; done
  for label in old new; do
    printf '%s subjects=%d  ' "$label" $n
    /usr/bin/python3 -c 'import sys, statistics as st
r = [list(map(float, open(f).read().split()[-4:])) for f in sys.argv[1:]]
w = [x[0] for x in r]; c = [x[1] + x[2] for x in r]
print(f"wall median {st.median(w):.2f} s (min {min(w):.2f})  cpu median {st.median(c):.2f} s (min {min(c):.2f})"
      f"  peak RSS {max(x[3] for x in r) / 1024:.0f} MiB")' time-$label-$n-*.txt
  done
  if h5diff --exclude-attribute / "out-old-$n.hdf5" "out-new-$n.hdf5" >/dev/null; then echo "h5diff $n subjects (root attributes excluded): identical"
  else echo "h5diff $n subjects: DIFFERENT (root attributes excluded)"; fi
done
cc -O2 -o limits "$HERE/limits.c" -ldeflate -lm
./limits --reps 3 --write-mb 1 --write-dir "$W" d1/dwi_ml_ready/*/*/*.nii.gz | grep -i -A3 'gz\|decode' | head -8
