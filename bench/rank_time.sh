#!/usr/bin/env bash
# Runs one MPI rank under GNU time, so that every rank's wall, CPU and peak RSS are recorded:
#   mpirun -n 3 bench/rank_time.sh PREFIX COMMAND...    ->  PREFIX.0, PREFIX.1, PREFIX.2
# Each file holds "wall user sys maxrss_kb" of that rank.
set -euo pipefail
prefix=$1
shift
rank=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${PMI_RANK:-0}}}
exec /usr/bin/time -f '%e %U %S %M' -o "$prefix.$rank" "$@"
