#pragma once
// A dynamic task farm: rank 0 hands task indices to worker ranks 1..N-1 as they become free
// (the first worker to ask is served first) and collects one result per task. Short tasks (a
// header check, a tiny subject: under 20 ms on average) are handed out ahead, a few at a time,
// so that a worker never waits for rank 0's answer between them; long ones one at a time. With a
// single rank, rank 0 runs the tasks itself. Used twice per conversion: planning (headers,
// checks) and writing (data).
#include "dwipack/mpi/comm.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace dwipack::pipeline {

struct TaskResult {
  bool ok = false;
  int rank = 0;                    ///< the rank that ran the task
  std::string payload;             ///< the task's result, or the error message when !ok
  std::vector<std::string> frames; ///< when !ok: the error's frames, outermost first (Error::frames)
  bool interrupted = false;        ///< when !ok: its rank had received SIGTERM/SIGINT (a stop, not a failure)
};

/// What rank 0 knows when the farm ends: one entry per task, empty for tasks never run (after
/// a stop on error).
using FarmResults = std::vector<std::optional<TaskResult>>;

/// Collective over comm. Run tasks `order[0], order[1], ...` (indices < n_tasks). A task that
/// throws becomes a failed TaskResult carrying the message. If `stop_on_error`, no new task
/// starts once rank 0 has seen the first failure (tasks already running finish; tasks handed
/// out ahead but not started are dropped, and have no result). `on_result` is called on
/// rank 0 as results arrive (progress), before each is stored: it may take the payload (moving
/// it out), so that a run's results do not all stay in memory as text; `on_idle`, if given,
/// every 2 ms while rank 0 waits for one (to notice a signal). Returns the results on rank 0,
/// an empty vector elsewhere.
FarmResults run_farm(const mpi::Comm& comm,
                     size_t n_tasks,
                     const std::vector<size_t>& order,
                     const std::function<std::string(size_t)>& run_task,
                     bool stop_on_error,
                     const std::function<void(size_t, TaskResult&)>& on_result = {},
                     const std::function<void()>& on_idle = {});

} // namespace dwipack::pipeline
