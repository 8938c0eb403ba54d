#pragma once
// SIGTERM / SIGINT: what SLURM sends before a time limit or on scancel, Ctrl-C, and what mpirun
// sends its ranks when it is itself interrupted. The handler only records the signal; long loops
// call check_interrupted() at safe points, so a task stops within a fraction of a second, the
// ranks still meet at the collective close, and the partial file and its journal stay behind for
// --resume.
//
// A signal may reach one rank only (`kill` of one process). The others learn of it through a
// poll: a function that check_interrupted() calls on the thread that installed it (the one that
// may call MPI), at most every few tens of milliseconds, and that returns the signal another rank
// received (pipeline/create_interrupt.cpp relays it from rank 0).
#include <functional>
#include <string>

namespace dwipack::interrupt {

/// Install the SIGTERM and SIGINT handlers (idempotent).
void install_handlers();

/// The signal received (SIGTERM, SIGINT), or 0.
int received();

/// "SIGTERM", "SIGINT", ...
std::string signal_name(int signal);

/// Throw Error("interrupted by SIGTERM") if a signal was received (here, or on another rank as
/// the poll reports it).
void check_interrupted();

/// For tests, and for a signal another rank received: record `signal` as if it had been
/// delivered (0 clears).
void simulate(int signal);

/// Install `poll` (empty: remove it) for the calling thread: check_interrupted() on this thread
/// calls it at most every `interval_seconds`; a nonzero result is recorded as the signal.
void set_poll(std::function<int()> poll, double interval_seconds = 0.05);

} // namespace dwipack::interrupt
