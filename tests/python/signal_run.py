"""Run a command, interrupt it the way a user or a scheduler would, and time the stop.

usage: signal_run.py HOW WAIT_FILE LOG -- COMMAND...
  HOW: ctrl-c       the command runs in a new pseudo-terminal (its foreground process group);
                    ^C is typed into it, so the terminal sends SIGINT to that group only
                    (mpirun, not its ranks, which have process groups of their own)
       term-launcher  SIGTERM to the command itself (mpirun)
       term-rank=N    SIGTERM to MPI rank N only (found by OMPI_COMM_WORLD_RANK in its environment)
  WAIT_FILE: the signal is sent once this file (the journal) has a line naming a subject.
Prints one line: "rc=<exit status> stopped=<seconds from the signal to dwipack's last line, the one
with 'To continue:'> gone=<seconds from the signal to the end of every rank>" and writes the
command's output (stdout and stderr) to LOG.
"""
import os
import pty
import select
import signal
import subprocess
import sys
import time

how, wait_file, log = sys.argv[1:4]
command = sys.argv[sys.argv.index("--") + 1:]
binary = command[command.index("create") - 1]  # the dwipack binary (after mpiexec -n N)


def ranks():
    """PIDs of the processes running the dwipack binary, with their MPI rank (-1: none)."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            if argv[0].decode() != binary:
                continue
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        rank = [e for e in env if e.startswith(b"OMPI_COMM_WORLD_RANK=")]
        out[int(pid)] = int(rank[0].split(b"=")[1]) if rank else -1
    return out


def journaled():
    try:
        return any('"subject"' in line for line in open(wait_file))
    except OSError:
        return False


output = b""
last_line_at = None
pid, fd = pty.fork() if how == "ctrl-c" else (None, None)
if pid == 0:
    os.execvp(command[0], command)
proc = None
if how != "ctrl-c":
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    fd = proc.stdout.fileno()
    pid = proc.pid

deadline = time.time() + 120
sent = None
while True:
    if sent is None and journaled():
        if how == "ctrl-c":
            os.write(fd, b"\x03")
        elif how == "term-launcher":
            os.kill(pid, signal.SIGTERM)
        else:
            target = int(how.split("=")[1])
            for p, rank in ranks().items():
                if rank == target:
                    os.kill(p, signal.SIGTERM)
        sent = time.time()
    if time.time() > deadline:
        os.kill(pid, signal.SIGKILL)
        sys.exit("signal_run: timed out")
    ready, _, _ = select.select([fd], [], [], 0.01)
    if ready:
        try:
            data = os.read(fd, 65536)
        except OSError:  # the pty is closed when the command ends
            data = b""
        if not data:
            break
        output += data
        if last_line_at is None and b"To continue:" in output:
            last_line_at = time.time()
status = os.waitpid(pid, 0)[1] if proc is None else proc.wait()
rc = os.waitstatus_to_exitcode(status) if proc is None else status
while ranks():  # ranks orphaned by a launcher that exited
    if time.time() > deadline:
        sys.exit("signal_run: ranks still running")
    time.sleep(0.01)
open(log, "wb").write(output)
stopped = last_line_at - sent if sent and last_line_at else -1
print(f"rc={rc} stopped={stopped:.2f} gone={time.time() - sent if sent else -1:.2f}")
