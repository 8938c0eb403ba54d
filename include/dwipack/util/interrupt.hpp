#pragma once
// SIGTERM / SIGINT: what SLURM sends before a time limit or on scancel, and Ctrl-C. The handler
// only records the signal; long loops call check_interrupted() at safe points, so a task stops
// within a fraction of a second, the ranks still meet at the collective close, and the partial
// file and its journal stay behind for --resume.
#include <string>

namespace dwipack::interrupt {

/// Install the SIGTERM and SIGINT handlers (idempotent).
void install_handlers();

/// The signal received (SIGTERM, SIGINT), or 0.
int received();

/// "SIGTERM", "SIGINT", ...
std::string signal_name(int signal);

/// Throw Error("interrupted by SIGTERM") if a signal was received.
void check_interrupted();

/// For tests: record `signal` as if it had been delivered (0 clears).
void simulate(int signal);

} // namespace dwipack::interrupt
