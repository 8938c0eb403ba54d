#include "dwipack/pipeline/farm.hpp"

#include "dwipack/error.hpp"
#include "dwipack/util/interrupt.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <new>
#include <thread>

namespace dwipack::pipeline {
namespace {

// Worker -> coordinator message: [int64 task (-1: none yet)][uint8 ok][payload bytes].
std::string encode_result(int64_t task, bool ok, const std::string& payload, bool interrupted = false) {
  std::string msg(9 + payload.size(), '\0');
  std::memcpy(msg.data(), &task, 8);
  msg[8] = ok ? 1 : interrupted ? 2 : 0;
  std::memcpy(msg.data() + 9, payload.data(), payload.size());
  return msg;
}

TaskResult run_one(size_t task, int rank, const std::function<std::string(size_t)>& run_task) {
  TaskResult r;
  r.rank = rank;
  try {
    interrupt::check_interrupted(); // no new work after SIGTERM/SIGINT
    r.payload = run_task(task);
    r.ok = true;
  } catch (const Error& e) {
    r.payload = e.what();
    r.frames = e.frames();
  } catch (const std::bad_alloc&) {
    r.payload = "out of memory";
  } catch (const std::exception& e) {
    r.payload = std::string("unexpected error: ") + e.what();
  }
  if (!r.ok && r.frames.empty()) r.frames = {r.payload};
  r.interrupted = !r.ok && interrupt::received() != 0; // a stop, not the task's failure
  return r;
}

} // namespace

FarmResults run_farm(const mpi::Comm& comm,
                     size_t n_tasks,
                     const std::vector<size_t>& order,
                     const std::function<std::string(size_t)>& run_task,
                     bool stop_on_error,
                     const std::function<void(size_t, const TaskResult&)>& on_result,
                     const std::function<void()>& on_idle) {
  const int rank = comm.rank();
  const int size = comm.size();

  if (size == 1) {
    FarmResults results(n_tasks);
    for (size_t task : order) {
      TaskResult r = run_one(task, 0, run_task);
      const bool failed = !r.ok;
      if (on_result) on_result(task, r);
      results[task] = std::move(r);
      if (failed && stop_on_error) break;
    }
    return results;
  }

  if (rank == 0) {
    FarmResults results(n_tasks);
    size_t next = 0;
    int active_workers = size - 1;
    bool stopping = false;
    std::string msg;
    while (active_workers > 0) {
      while (on_idle && !comm.message_waiting(MPI_ANY_SOURCE, mpi::Tag::result)) {
        on_idle();
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      const int worker = comm.recv(msg, MPI_ANY_SOURCE, mpi::Tag::result);
      int64_t task = -1;
      std::memcpy(&task, msg.data(), 8);
      if (task >= 0) {
        TaskResult r;
        r.ok = msg[8] == 1;
        r.interrupted = msg[8] == 2;
        r.rank = worker;
        r.payload = msg.substr(9);
        if (!r.ok) { // the worker sent the error's frames
          r.frames = nlohmann::json::parse(r.payload).get<std::vector<std::string>>();
          r.payload = r.frames.front();
          for (size_t i = 1; i < r.frames.size(); ++i)
            r.payload += ": " + r.frames[i];
        }
        if (!r.ok && stop_on_error) stopping = true;
        if (on_result) on_result(static_cast<size_t>(task), r);
        results[static_cast<size_t>(task)] = std::move(r);
      }
      if (stopping || next == order.size()) {
        comm.send("", worker, mpi::Tag::stop);
        --active_workers;
      } else {
        const int64_t give = static_cast<int64_t>(order[next++]);
        comm.send(std::string(reinterpret_cast<const char*>(&give), 8), worker, mpi::Tag::task);
      }
    }
    return results;
  }

  // Worker: ask, run, report with the next request, until told to stop.
  std::string msg = encode_result(-1, true, "");
  for (;;) {
    comm.send(msg, 0, mpi::Tag::result);
    std::string reply;
    const mpi::Tag tag = comm.recv_any_tag(reply, 0);
    if (tag == mpi::Tag::stop) break;
    if (tag != mpi::Tag::task || reply.size() != 8) throw Error("task farm: unexpected message from rank 0");
    int64_t task = 0;
    std::memcpy(&task, reply.data(), 8);
    TaskResult r = run_one(static_cast<size_t>(task), rank, run_task);
    msg = encode_result(task, r.ok, r.ok ? r.payload : nlohmann::json(r.frames).dump(), r.interrupted);
  }
  return {};
}

} // namespace dwipack::pipeline
