#pragma once
// MPI ownership and the few message primitives the coordinator/worker protocol needs.
// Waiting is done by polling with short sleeps, never by spinning: on a 2-core node a coordinator
// (or a worker waiting at the end) that busy-waits would take a core from the workers.
#include "dwipack/util/bytes.hpp"

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dwipack::mpi {

/// Initialises MPI if nobody did (a singleton run without mpirun works too) and finalises it only
/// if it initialised it.
class Environment {
public:
  Environment(int* argc, char*** argv);
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

private:
  bool owned_ = false;
};

/// Message tags: the task farm's protocol (result, task, stop) and the compressed copy's pass
/// (pipeline/compress.hpp), which runs on a duplicate communicator of its own.
enum class Tag : int {
  result = 11,            ///< worker -> rank 0: a task's result (and a request for the next)
  task = 12,              ///< rank 0 -> worker: a task to run
  stop = 13,              ///< rank 0 -> worker: no more tasks
  compressed_chunks = 31, ///< worker -> rank 0: a task's compressed chunks, or "done"
  compression_over = 32,  ///< rank 0 -> worker: the compression pass is over (and why)
};

/// A non-blocking operation in flight (an MPI_Request). Move-only. wait() sleeps between polls.
/// The destructor never waits: a request still in flight is released (MPI_Request_free) and
/// completes on its own. Its buffer must outlive it, so every normal path wait()s; only an error
/// path (where the job is then aborted) lets one go.
class Request {
public:
  Request() = default;
  Request(Request&& other) noexcept : request_(std::exchange(other.request_, MPI_REQUEST_NULL)) {}
  /// Releases a request still in flight (as the destructor does), then takes `other`'s.
  Request& operator=(Request&& other) noexcept;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  ~Request();

  /// False once the operation completed (or for a default-constructed request).
  bool active() const noexcept { return request_ != MPI_REQUEST_NULL; }
  /// Never blocks: true (and inactive from then on) if the operation has completed.
  bool test();
  /// Wait (sleeping, not spinning) until the operation completes; at once if inactive.
  void wait();

private:
  friend class Comm;
  explicit Request(MPI_Request request) : request_(request) {}
  MPI_Request request_ = MPI_REQUEST_NULL;
};

/// A duplicate of a communicator (never WORLD itself), freed when destroyed.
class Comm {
public:
  explicit Comm(MPI_Comm parent);
  Comm(Comm&& other) noexcept : comm_(std::exchange(other.comm_, MPI_COMM_NULL)) {}
  Comm& operator=(Comm&&) = delete;
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  ~Comm();

  MPI_Comm get() const { return comm_; }
  int rank() const;
  int size() const;
  /// Collective. Another duplicate of the same group: a pass on it never receives a message
  /// meant for another protocol, whatever the tags.
  Comm duplicate() const;

  /// Point-to-point: send bytes to `dest` with `tag`.
  void send(const std::string& bytes, int dest, Tag tag) const;
  /// Point-to-point, non-blocking: start sending `n_bytes` bytes at `data` to `dest`. The bytes
  /// must stay alive and unchanged until the request completes.
  Request isend(const void* data, size_t n_bytes, int dest, Tag tag) const;
  /// Wait (sleeping, not spinning) for a message with `tag` from `source` (MPI_ANY_SOURCE
  /// allowed) and receive it, whatever its size. Returns the sender's rank and fills `bytes`.
  int recv(std::string& bytes, int source, Tag tag) const;
  /// As above, into a buffer that grows without zeroing (large messages).
  int recv(Bytes& bytes, int source, Tag tag) const;
  /// Never blocks: whether a message with `tag` from `source` is waiting to be received.
  bool message_waiting(int source, Tag tag) const;
  /// Wait (sleeping) for the first message from `source` with any of the protocol tags;
  /// returns its tag.
  Tag recv_any_tag(std::string& bytes, int source) const;

  /// Collective. A barrier whose waiting ranks sleep instead of spinning.
  void sleepy_barrier() const;
  /// Collective. Broadcast a string from `root` (after a sleepy barrier, so early ranks sleep).
  void broadcast(std::string& bytes, int root) const;
  /// Collective. Broadcast an int from `root`.
  int broadcast(int value, int root) const;
  /// Collective. The largest `value` over all ranks, on every rank.
  int max(int value) const;
  /// Collective. Every rank's `value`, in rank order, into `at_root` on `root` (empty elsewhere).
  void gather_i64(int64_t value, std::vector<int64_t>& at_root, int root) const;
  /// Collective. Every rank's short text (all of them together under 2 GiB), in rank order, into
  /// `at_root` on `root` (empty elsewhere).
  void gather(const std::string& value, std::vector<std::string>& at_root, int root) const;

private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

/// Terminate every rank of the job (after printing the reason). Used only where a rank cannot
/// reach the next collective call.
[[noreturn]] void abort_job(MPI_Comm comm, int exit_code);

/// Collective. The CPU cores each worker rank of this node may use: the cores this process may
/// run on (its affinity mask, i.e. SLURM's allocation or mpirun's binding) divided by the worker
/// ranks on the node (rank 0 only coordinates and sleeps, so it counts only when it is alone).
/// At least 1. Workers start helper threads only when this is 2 or more.
int cores_per_worker(const Comm& comm);

/// Sleep for `us` microseconds (wraps nanosleep).
void sleep_us(int64_t us);

} // namespace dwipack::mpi
