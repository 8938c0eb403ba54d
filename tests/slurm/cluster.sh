# shellcheck shell=bash
# A private SLURM for a test, sourced (bash): munged, one slurmctld and one slurmd per node, all on
# this machine, from a configuration in DIR (own munge key and socket, own free ports), so that a
# SLURM or munge already running here is never touched.
#   cluster_start DIR [NODES]  start the daemons, export SLURM_CONF (sbatch, squeue, scontrol, ...
#                              talk to this cluster), wait until every node is idle. NODES=1 (the
#                              default): one node named localhost. NODES>=2: nodes n1..nN, each
#                              slurmd in its own UTS namespace (host name nK), with its own loopback
#                              address (127.0.0.K+1), port, spool/PID/log files and PMIx client
#                              folder (docs/toolchain.md §7.4). Every slurmd has its own mount
#                              namespace with its own /dev/shm.
#   cluster_stop [RC]          jobs first, then every daemon started here, by PID (SIGTERM, then
#                              SIGKILL after 10 s); with RC != 0, the daemons' log ends first. Call
#                              it from the test's EXIT trap, also on failure.
#   cluster_submit LOG SBATCH_ARGS...       sbatch; sets JOB (remembered for cluster_stop)
#   cluster_wait ID SECONDS                 until the job has ended; sets JOB_STATE and JOB_EXIT
#   cluster_run_job LOG SECONDS SBATCH_ARGS...   both
#   cluster_job_field ID FIELD              one field of `scontrol show job`
#   cluster_step_pids ID [NODE]             the PIDs of job ID's processes (on NODE only)
# Settings (docs/toolchain.md §7): CPUs=4 per node with config_overrides, so that 3 tasks run on
# a 2-core node (else the job stays PENDING forever); cred_expire=10 and 2 s scheduler intervals,
# so that a requeued job starts again within seconds (the defaults are 120, 60 and 30 s).
# Needs root, the packages slurmctld slurmd slurm-client munge, /sys/fs/cgroup mounted, and DIR's
# parent folders enterable by the munge user. CLUSTER_DEADLINE (epoch seconds), when set, bounds
# every wait.

CLUSTER_DIR="" MUNGED_PID="" SLURMCTLD_PID=""
SLURMD_PIDS=()    # one per node, in CLUSTER_NODES order
CLUSTER_NODES=()  # the node names
CLUSTER_JOBS=()   # every job submitted, cancelled by cluster_stop if still there
: "${CLUSTER_DEADLINE:=}"

cluster_fail() { echo "FAIL: $*" >&2; exit 1; }

# cluster_pid_of FILE: the PID in FILE if that process is alive and was started from $CLUSTER_DIR
# (a PID is never signalled unless its command line names our folder).
cluster_pid_of() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$CLUSTER_DIR" && echo "$pid"
}
cluster_alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]; } # a zombie has ended

# cluster_until SECONDS: now + SECONDS, or CLUSTER_DEADLINE if that comes first.
cluster_until() {
  local until=$(($(date +%s) + $1))
  [ -z "$CLUSTER_DEADLINE" ] || [ "$until" -le "$CLUSTER_DEADLINE" ] || until=$CLUSTER_DEADLINE
  echo "$until"
}

cluster_start() {
  CLUSTER_DIR=$1
  local nodes=${2:-1} b missing=() i node ports
  for b in munged slurmctld slurmd sbatch scontrol scancel squeue sinfo; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || missing+=("$b")
  done
  [ ${#missing[@]} -eq 0 ] ||
    cluster_fail "missing ${missing[*]}: run scripts/install_deps.sh (slurmctld slurmd slurm-client munge)"
  export PATH=$PATH:/usr/sbin
  [ "$(id -u)" = 0 ] || cluster_fail "must run as root: slurmd launches the jobs, munged runs as munge"
  getent passwd munge >/dev/null || cluster_fail "no 'munge' user: run scripts/install_deps.sh (package munge)"
  mountpoint -q /sys/fs/cgroup || cluster_fail "slurmd 22.05 needs /sys/fs/cgroup mounted (in a chroot: mount --rbind /sys)"
  [ "$nodes" -lt 2 ] || unshare --uts --mount --propagation private true 2>/dev/null ||
    cluster_fail "$nodes nodes need UTS and mount namespaces (unshare, package util-linux, as root with CAP_SYS_ADMIN)"
  mkdir -p "$CLUSTER_DIR" && chmod 755 "$CLUSTER_DIR" # munged (user munge) must reach its socket inside
  mkdir -p "$CLUSTER_DIR"/{munge,state,spool,log,tmp}

  # munged as the munge user, with its own key, socket, PID, log and seed files.
  chown munge:munge "$CLUSTER_DIR/munge"
  if command -v mungekey >/dev/null 2>&1; then
    mungekey --create --keyfile="$CLUSTER_DIR/munge/munge.key" >/dev/null
  else
    dd if=/dev/urandom of="$CLUSTER_DIR/munge/munge.key" bs=1024 count=1 status=none
  fi
  chown munge:munge "$CLUSTER_DIR/munge/munge.key" && chmod 600 "$CLUSTER_DIR/munge/munge.key"
  runuser -u munge -- munged --socket="$CLUSTER_DIR/munge/socket" --key-file="$CLUSTER_DIR/munge/munge.key" \
    --pid-file="$CLUSTER_DIR/munge/munged.pid" --log-file="$CLUSTER_DIR/munge/munged.log" \
    --seed-file="$CLUSTER_DIR/munge/munged.seed" ||
    cluster_fail "munged did not start: $(tail -n 5 "$CLUSTER_DIR/munge/munged.log" 2>/dev/null)"
  MUNGED_PID=$(cluster_pid_of "$CLUSTER_DIR/munge/munged.pid") || cluster_fail "munged wrote no PID file"

  # Free TCP ports, the kernel's choice (released just before the daemons bind them): slurmctld's,
  # then one per slurmd.
  read -r -a ports < <(/usr/bin/python3 -c '
import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("", 0))
print(*(x.getsockname()[1] for x in s))' $((nodes + 1)))

  export SLURM_CONF=$CLUSTER_DIR/slurm.conf
  {
    cat <<EOF
ClusterName=dwipacktest
SlurmctldHost=localhost
SlurmctldPort=${ports[0]}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$CLUSTER_DIR/munge/socket,cred_expire=10
SchedulerParameters=sched_interval=2,bf_interval=2
StateSaveLocation=$CLUSTER_DIR/state
SlurmctldPidFile=$CLUSTER_DIR/slurmctld.pid
SlurmctldLogFile=$CLUSTER_DIR/log/slurmctld.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=15
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
EOF
    if [ "$nodes" -lt 2 ]; then
      CLUSTER_NODES=(localhost)
      cat <<EOF
SlurmdPort=${ports[1]}
SlurmdSpoolDir=$CLUSTER_DIR/spool
SlurmdPidFile=$CLUSTER_DIR/slurmd.pid
SlurmdLogFile=$CLUSTER_DIR/log/slurmd.log
NodeName=localhost NodeHostname=localhost CPUs=4 RealMemory=16000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=60 State=UP
EOF
    else
      CLUSTER_NODES=()
      # %n: the node's name, so that each slurmd has its own spool folder, PID file and log.
      cat <<EOF
SlurmdSpoolDir=$CLUSTER_DIR/spool/%n
SlurmdPidFile=$CLUSTER_DIR/slurmd-%n.pid
SlurmdLogFile=$CLUSTER_DIR/log/slurmd-%n.log
EOF
      for ((i = 1; i <= nodes; ++i)); do
        CLUSTER_NODES+=("n$i")
        echo "NodeName=n$i NodeHostname=n$i NodeAddr=127.0.0.$((i + 1)) Port=${ports[$i]} CPUs=4 RealMemory=16000 State=UNKNOWN"
      done
      echo "PartitionName=debug Nodes=n[1-$nodes] Default=YES MaxTime=60 State=UP"
    fi
  } >"$SLURM_CONF"
  if [ "$nodes" -ge 2 ]; then
    # The PMIx plugin of every node's step daemon creates <base>/spmix_appdir_<uid>_<job>.<step>:
    # with one base for all nodes the second node's step fails ("File exists"). The base below is
    # a per-node folder bind-mounted over it in that node's own mount namespace.
    mkdir -p "$CLUSTER_DIR/pmix"
    echo "PMIxCliTmpDirBase=$CLUSTER_DIR/pmix" >"$CLUSTER_DIR/mpi.conf"
  fi

  # TMPDIR: what the daemons and job steps leave (PMIx folders) stays in DIR.
  TMPDIR=$CLUSTER_DIR/tmp slurmctld -f "$SLURM_CONF" || cluster_fail "slurmctld did not start"
  # Every slurmd runs in its own mount namespace with its own /dev/shm, as on a node of its own:
  # Open MPI names its shared-memory segments there by host name and job ID, and the job IDs of
  # every private cluster start at 1, so two clusters (or two "nodes" of the same name) running at
  # once on this machine would otherwise open each other's segments and crash. unshare runs the
  # shell in the new namespaces (no fork); slurmd daemonizes inside them and keeps them alive; the
  # job steps it starts inherit them.
  for node in "${CLUSTER_NODES[@]}"; do
    # shellcheck disable=SC2016 # the inner shells expand their own arguments
    if [ "$nodes" -lt 2 ] && ! unshare --mount --propagation private true 2>/dev/null; then
      # No mount namespace allowed here (a container without CAP_SYS_ADMIN): one node still works.
      echo "cluster_start: no mount namespace allowed; slurmd shares this machine's /dev/shm" >&2
      TMPDIR=$CLUSTER_DIR/tmp slurmd -f "$SLURM_CONF" -N "$node" || cluster_fail "slurmd did not start"
    elif [ "$nodes" -lt 2 ]; then
      TMPDIR=$CLUSTER_DIR/tmp unshare --mount --propagation private -- /bin/sh -c \
        'mount -t tmpfs -o mode=1777 tmpfs /dev/shm && exec slurmd -f "$1" -N "$2"' \
        sh "$SLURM_CONF" "$node" || cluster_fail "slurmd did not start"
    else
      # Its own host name too (a UTS namespace), and its own PMIx client folder.
      mkdir -p "$CLUSTER_DIR/spool/$node" "$CLUSTER_DIR/pmix-$node"
      TMPDIR=$CLUSTER_DIR/tmp unshare --uts --mount --propagation private -- /bin/sh -c \
        'mount -t tmpfs -o mode=1777 tmpfs /dev/shm && mount --bind "$1" "$2" && hostname "$3" &&
         exec slurmd -f "$4" -N "$3"' \
        sh "$CLUSTER_DIR/pmix-$node" "$CLUSTER_DIR/pmix" "$node" "$SLURM_CONF" ||
        cluster_fail "slurmd of node $node did not start"
    fi
  done

  local pid_files=() pid until
  for node in "${CLUSTER_NODES[@]}"; do
    if [ "$nodes" -lt 2 ]; then pid_files+=("$CLUSTER_DIR/slurmd.pid"); else pid_files+=("$CLUSTER_DIR/slurmd-$node.pid"); fi
  done
  until=$(cluster_until 30)
  while :; do # the PID files are written by the daemonized processes
    SLURMCTLD_PID=$(cluster_pid_of "$CLUSTER_DIR/slurmctld.pid") || SLURMCTLD_PID=""
    SLURMD_PIDS=()
    for i in "${!pid_files[@]}"; do
      pid=$(cluster_pid_of "${pid_files[$i]}") && SLURMD_PIDS+=("$pid")
    done
    [[ -n "$SLURMCTLD_PID" && ${#SLURMD_PIDS[@]} -eq ${#CLUSTER_NODES[@]} ]] && break
    [ "$(date +%s)" -lt "$until" ] || cluster_fail "slurmctld/slurmd wrote no PID file (${pid_files[*]})"
    sleep 0.25
  done
  local states=""
  until=$(cluster_until 30)
  while :; do
    states=$(sinfo -h -N -o '%N=%T' 2>/dev/null | sort -u | tr '\n' ' ' || true)
    [ "$(sinfo -h -N -o %T 2>/dev/null | grep -c '^idle$')" = "${#CLUSTER_NODES[@]}" ] && return 0
    [ "$(date +%s)" -lt "$until" ] || cluster_fail "the SLURM nodes are not all idle after 30 s: $states"
    sleep 0.25
  done
}

# cluster_job_field ID FIELD: one field of `scontrol show job` (JobState shows COMPLETING until
# every process of the job has ended).
cluster_job_field() {
  { scontrol show job -o "$1" 2>/dev/null || true; } | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# cluster_submit LOG SBATCH_ARGS...: submit; sets JOB.
cluster_submit() {
  local log=$1
  shift
  JOB=$(sbatch --parsable --output="$log" "$@") || cluster_fail "sbatch refused the job: $*"
  CLUSTER_JOBS+=("$JOB")
}

# cluster_wait ID SECONDS: poll until the job has ended, bounded; sets JOB_STATE and JOB_EXIT
# ("0:0" when the job succeeded).
cluster_wait() {
  local id=$1 until
  until=$(cluster_until "$2")
  while :; do
    JOB_STATE=$(cluster_job_field "$id" JobState)
    case $JOB_STATE in
      COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | PREEMPTED | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE) break ;;
    esac
    [ "$(date +%s)" -lt "$until" ] ||
      cluster_fail "job $id has not ended in time: state '$JOB_STATE', reason '$(cluster_job_field "$id" Reason)'"
    sleep 0.25
  done
  # shellcheck disable=SC2034 # for the caller
  JOB_EXIT=$(cluster_job_field "$id" ExitCode)
}

cluster_run_job() {
  local log=$1 seconds=$2
  shift 2
  cluster_submit "$log" "$@"
  cluster_wait "$JOB" "$seconds"
}

# cluster_step_pids ID [NODE]: the processes of job ID (on node NODE only), found by the job's
# environment, which names this cluster's configuration (job IDs alone repeat across clusters).
cluster_step_pids() {
  local id=$1 node=${2:-} env_file pid
  # grep -z: the environment's variables are NUL-terminated lines.
  # shellcheck disable=SC2013 # /proc paths, one per line, no spaces
  for env_file in $(grep -lzxF "SLURM_JOB_ID=$id" /proc/[0-9]*/environ 2>/dev/null); do
    grep -qzxF "SLURM_CONF=$SLURM_CONF" "$env_file" 2>/dev/null || continue
    [ -z "$node" ] || grep -qzxF "SLURMD_NODENAME=$node" "$env_file" 2>/dev/null || continue
    pid=${env_file#/proc/}
    echo "${pid%/environ}"
  done
}

# cluster_stop_pids PID...: SIGTERM to each, up to 10 s for all of them, then SIGKILL.
cluster_stop_pids() {
  local pid left
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null
  for _ in $(seq 40); do
    left=()
    for pid in "$@"; do ! cluster_alive "$pid" || left+=("$pid"); done
    [ ${#left[@]} -gt 0 ] || return 0
    sleep 0.25
  done
  echo "cluster_stop: ${left[*]} ignored SIGTERM, sending SIGKILL" >&2
  kill -KILL "${left[@]}" 2>/dev/null
}

cluster_stop() {
  local rc=${1:-0} id f pids=() errexit=0
  [ -n "$CLUSTER_DIR" ] || return 0
  [[ $- != *e* ]] || errexit=1
  set +e # a cleanup: every step is tried
  if [ "$rc" != 0 ]; then
    for f in "$CLUSTER_DIR"/log/slurmctld.log "$CLUSTER_DIR"/log/slurmd*.log; do
      [ -f "$f" ] && { echo "--- $f (end)" >&2; tail -n 15 "$f" >&2; }
    done
  fi
  # Jobs first, while the slurmds still run to end them; then their processes, if any stayed.
  if [ -n "$SLURMCTLD_PID" ] && [ ${#CLUSTER_JOBS[@]} -gt 0 ]; then
    for id in "${CLUSTER_JOBS[@]}"; do scancel "$id" 2>/dev/null; done
    for _ in $(seq 60); do
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.25
    done
    for id in "${CLUSTER_JOBS[@]}"; do
      # shellcheck disable=SC2207 # one PID per word
      pids=($(cluster_step_pids "$id"))
      [ ${#pids[@]} -eq 0 ] || { echo "cluster_stop: killing leftover processes of job $id: ${pids[*]}" >&2; kill -KILL "${pids[@]}"; }
    done
  fi
  # Daemons found from their PID files too, in case cluster_start failed half-way.
  [ -n "$SLURMCTLD_PID" ] || SLURMCTLD_PID=$(cluster_pid_of "$CLUSTER_DIR/slurmctld.pid")
  [ -n "$MUNGED_PID" ] || MUNGED_PID=$(cluster_pid_of "$CLUSTER_DIR/munge/munged.pid")
  pids=()
  for f in "$CLUSTER_DIR"/slurmd.pid "$CLUSTER_DIR"/slurmd-*.pid; do
    [ -f "$f" ] && id=$(cluster_pid_of "$f") && pids+=("$id")
  done
  # shellcheck disable=SC2086 # SLURMCTLD_PID may be empty
  cluster_stop_pids "${pids[@]}" $SLURMCTLD_PID
  # shellcheck disable=SC2086
  cluster_stop_pids $MUNGED_PID # last: the SLURM daemons authenticate through it until they stop
  SLURMD_PIDS=() SLURMCTLD_PID="" MUNGED_PID="" CLUSTER_DIR="" CLUSTER_NODES=()
  [ "$errexit" = 0 ] || set -e
}
