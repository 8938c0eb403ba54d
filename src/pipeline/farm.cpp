#include "dwipack/pipeline/farm.hpp"

#include "dwipack/error.hpp"
#include "dwipack/util/interrupt.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <list>
#include <new>
#include <thread>

namespace dwipack::pipeline {
namespace {

// Worker -> coordinator: [int64 task, or hello / bye][uint8 ok][float64 seconds][payload bytes].
// Coordinator -> worker: Tag::task with int64 task indices (a batch), or Tag::stop.
constexpr int64_t hello = -1; ///< a worker's first message: it is ready
constexpr int64_t bye = -2;   ///< a worker's last message: it stopped, dropping what it held
constexpr size_t header_bytes = 17;

/// How much queued work keeps a worker busy while the coordinator, which polls with sleeps of up
/// to 2 ms (mpi/comm.hpp), answers its last report: tasks shorter than this are handed out
/// ahead, enough of them to cover it. Longer tasks are handed out one at a time, as each worker
/// finishes one (the best balance at the end of the job; the latency is then < 2 % of a task).
constexpr double cover_seconds = 0.02;
constexpr size_t max_ahead = 64; ///< tasks queued on a worker at most (a bound on the imbalance)

std::string
encode(int64_t task, bool ok, double seconds, const std::string& payload, bool interrupted = false) {
  std::string msg(header_bytes + payload.size(), '\0');
  std::memcpy(msg.data(), &task, 8);
  msg[8] = ok ? 1 : interrupted ? 2 : 0;
  std::memcpy(msg.data() + 9, &seconds, 8);
  std::memcpy(msg.data() + header_bytes, payload.data(), payload.size());
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

FarmResults run_alone(size_t n_tasks,
                      const std::vector<size_t>& order,
                      const std::function<std::string(size_t)>& run_task,
                      bool stop_on_error,
                      const std::function<void(size_t, TaskResult&)>& on_result) {
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

/// Rank 0 of a farm of several ranks: hands out tasks, collects results.
class Coordinator {
public:
  Coordinator(const mpi::Comm& comm,
              size_t n_tasks,
              const std::vector<size_t>& order,
              bool stop_on_error,
              const std::function<void(size_t, TaskResult&)>& on_result,
              const std::function<void()>& on_idle)
      : comm_(comm), order_(order), stop_on_error_(stop_on_error), on_result_(on_result), on_idle_(on_idle),
        results_(n_tasks), outstanding_(static_cast<size_t>(comm.size()), 0),
        stopped_(static_cast<size_t>(comm.size()), false) {}

  FarmResults run() {
    int active = comm_.size() - 1;
    std::string msg;
    while (active > 0) {
      while (on_idle_ && !comm_.message_waiting(MPI_ANY_SOURCE, mpi::Tag::result)) {
        on_idle_();
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      const int worker = comm_.recv(msg, MPI_ANY_SOURCE, mpi::Tag::result);
      int64_t task = hello;
      std::memcpy(&task, msg.data(), 8);
      if (task == bye) {
        --active;
        continue;
      }
      if (task >= 0) record(worker, static_cast<size_t>(task), msg);
      reply(worker);
    }
    return std::move(results_);
  }

private:
  void record(int worker, size_t task, const std::string& msg) {
    TaskResult r;
    r.ok = msg[8] == 1;
    r.interrupted = msg[8] == 2;
    r.rank = worker;
    double seconds = 0;
    std::memcpy(&seconds, msg.data() + 9, 8);
    r.payload = msg.substr(header_bytes);
    if (!r.ok) { // the worker sent the error's frames
      r.frames = nlohmann::json::parse(r.payload).get<std::vector<std::string>>();
      r.payload = r.frames.front();
      for (size_t i = 1; i < r.frames.size(); ++i)
        r.payload += ": " + r.frames[i];
    }
    if (!r.ok && stop_on_error_) stopping_ = true;
    // A running mean of the task durations (the recent ones count most: largest first).
    mean_seconds_ = mean_seconds_ < 0 ? seconds : 0.8 * mean_seconds_ + 0.2 * seconds;
    --outstanding_[static_cast<size_t>(worker)];
    if (on_result_) on_result_(task, r);
    results_[task] = std::move(r);
  }

  /// The tasks a worker should hold (running and queued) now.
  size_t target_outstanding() const {
    if (mean_seconds_ < 0 || mean_seconds_ >= cover_seconds) return 1;
    const auto ahead = static_cast<size_t>(std::ceil(cover_seconds / std::max(mean_seconds_, 1e-6)));
    // Near the end, queue no more than every worker can still get its share of.
    const size_t workers = static_cast<size_t>(comm_.size() - 1);
    const size_t fair = (order_.size() - next_) / workers;
    return 1 + std::min({ahead, max_ahead, fair});
  }

  /// After a worker's message: top its queue up, or tell it to stop.
  void reply(int worker) {
    const auto w = static_cast<size_t>(worker);
    if (stopped_[w]) return;
    if (stopping_ || (next_ == order_.size() && outstanding_[w] == 0)) {
      comm_.send("", worker, mpi::Tag::stop);
      stopped_[w] = true;
      return;
    }
    std::vector<int64_t> batch;
    for (const size_t target = target_outstanding(); outstanding_[w] < target && next_ < order_.size();
         ++outstanding_[w])
      batch.push_back(static_cast<int64_t>(order_[next_++]));
    if (!batch.empty())
      comm_.send(std::string(reinterpret_cast<const char*>(batch.data()), batch.size() * 8), worker,
                 mpi::Tag::task);
  }

  const mpi::Comm& comm_;
  const std::vector<size_t>& order_;
  const bool stop_on_error_;
  const std::function<void(size_t, TaskResult&)>& on_result_;
  const std::function<void()>& on_idle_;
  FarmResults results_;
  std::vector<size_t> outstanding_; ///< per worker: tasks handed out, not reported yet
  std::vector<bool> stopped_;       ///< per worker: told to stop
  size_t next_ = 0;                 ///< position in order_
  bool stopping_ = false;
  double mean_seconds_ = -1; ///< unknown until the first result
};

/// A worker rank: runs the tasks it is given, in order, reporting each; a batch may arrive
/// while it works (it looks for messages before each task, never waiting while it has one).
class Worker {
public:
  Worker(const mpi::Comm& comm, const std::function<std::string(size_t)>& run_task)
      : comm_(comm), run_task_(run_task) {}

  void run() {
    send(encode(hello, true, 0, ""));
    for (;;) {
      take_messages(/*wait=*/queue_.empty() && !stop_);
      if (stop_ || queue_.empty()) break;
      const size_t task = queue_.front();
      queue_.pop_front();
      const auto t0 = std::chrono::steady_clock::now();
      TaskResult r = run_one(task, comm_.rank(), run_task_);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      send(encode(static_cast<int64_t>(task), r.ok, seconds,
                  r.ok ? r.payload : nlohmann::json(r.frames).dump(), r.interrupted));
    }
    send(encode(bye, true, 0, ""));
    for (auto& s : sending_)
      s.request.wait();
  }

private:
  /// Receive what rank 0 sent (waiting, sleeping, for a first message if `wait`).
  void take_messages(bool wait) {
    while (wait || comm_.message_waiting(0, mpi::Tag::task) || comm_.message_waiting(0, mpi::Tag::stop)) {
      wait = false;
      std::string reply;
      const mpi::Tag tag = comm_.recv_any_tag(reply, 0);
      if (tag == mpi::Tag::stop) {
        stop_ = true; // tasks still queued are dropped: rank 0 knows which ones it never heard of
        return;
      }
      if (tag != mpi::Tag::task || reply.empty() || reply.size() % 8 != 0)
        throw Error("task farm: unexpected message from rank 0");
      for (size_t at = 0; at < reply.size(); at += 8) {
        int64_t task = 0;
        std::memcpy(&task, reply.data() + at, 8);
        queue_.push_back(static_cast<size_t>(task));
      }
    }
  }

  /// Send without waiting for rank 0 to receive (a large result would otherwise hold the worker
  /// until rank 0's next poll); the bytes stay alive until their request completes.
  void send(std::string msg) {
    sending_.remove_if([](Sending& s) { return s.request.test(); });
    sending_.push_back({std::move(msg), {}});
    Sending& s = sending_.back();
    s.request = comm_.isend(s.bytes.data(), s.bytes.size(), 0, mpi::Tag::result);
  }

  struct Sending {
    std::string bytes;
    mpi::Request request;
  };
  const mpi::Comm& comm_;
  const std::function<std::string(size_t)>& run_task_;
  std::deque<size_t> queue_;
  std::list<Sending> sending_; ///< a list: its elements never move while MPI reads them
  bool stop_ = false;
};

} // namespace

FarmResults run_farm(const mpi::Comm& comm,
                     size_t n_tasks,
                     const std::vector<size_t>& order,
                     const std::function<std::string(size_t)>& run_task,
                     bool stop_on_error,
                     const std::function<void(size_t, TaskResult&)>& on_result,
                     const std::function<void()>& on_idle) {
  if (comm.size() == 1) return run_alone(n_tasks, order, run_task, stop_on_error, on_result);
  FarmResults results;
  if (comm.rank() == 0)
    results = Coordinator(comm, n_tasks, order, stop_on_error, on_result, on_idle).run();
  else
    Worker(comm, run_task).run();
  // Every rank leaves together: a worker that is done must not send its next farm's first message
  // while rank 0 still waits for another worker's last message of this one.
  comm.sleepy_barrier();
  return results;
}

} // namespace dwipack::pipeline
