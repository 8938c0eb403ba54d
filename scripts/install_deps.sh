#!/usr/bin/env bash
# Install the Debian 12 packages dwipack needs to build, test and run. Idempotent: packages
# already present are skipped by apt; nothing is downloaded when everything is installed.
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ make cmake pkg-config git
  # MPI + parallel HDF5 (never install the serial libhdf5-dev or MPICH next to these)
  libopenmpi-dev openmpi-bin libhdf5-openmpi-dev
  # libraries (ISA-L and libdeflate are optional: zlib, which HDF5 brings, replaces them, slower)
  nlohmann-json3-dev libnifti2-dev libboost-program-options-dev libisal-dev libdeflate-dev
  # tests: GoogleTest, and the independent readers/references (h5py, nibabel, dipy, h5dump/h5diff)
  libgtest-dev libgmock-dev hdf5-tools python3-h5py python3-numpy python3-nibabel python3-dipy
  # the SLURM test (tests/slurm): a real slurmctld + slurmd + munge that the test starts itself
  # from a temporary configuration (the postinst scripts do not start them)
  slurmctld slurmd slurm-client munge
  # the install test (tests/integration/cli_install_module.sh): Lmod, as clusters have it
  lmod
  # formatting check
  clang-format
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#PACKAGES[@]} packages already installed"
else
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "install_deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
# mpirun takes +5 s per start when localhost does not resolve (fresh containers).
grep -qE '^127\.0\.0\.1[[:space:]].*\blocalhost\b' /etc/hosts 2>/dev/null || {
  [ -w /etc/hosts ] && echo "127.0.0.1 localhost" >> /etc/hosts || true
}
