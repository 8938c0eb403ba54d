#include "dwipack/mpi/comm.hpp"

#include "dwipack/error.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <sched.h>

namespace dwipack::mpi {
namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(std::string(what) + ": " + std::string(text, static_cast<size_t>(len)));
}

/// Poll `ready()` with exponential back-off between 20 us and 2 ms: fast enough for a protocol
/// whose tasks last seconds, and near zero CPU while idle.
template <class Ready> void wait_sleeping(Ready&& ready) {
  int64_t pause_us = 20;
  while (!ready()) {
    sleep_us(pause_us);
    pause_us = std::min<int64_t>(pause_us * 2, 2000);
  }
}

} // namespace

int cores_per_worker(const Comm& comm) {
  comm.sleepy_barrier();
  MPI_Comm node = MPI_COMM_NULL;
  check(MPI_Comm_split_type(comm.get(), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node),
        "grouping the ranks by node");
  int local_ranks = 1;
  MPI_Comm_size(node, &local_ranks);
  int lowest_rank = comm.rank();
  check(MPI_Allreduce(MPI_IN_PLACE, &lowest_rank, 1, MPI_INT, MPI_MIN, node), "finding the node's ranks");
  MPI_Comm_free(&node);
  const int workers = std::max(1, local_ranks - (lowest_rank == 0 && comm.size() > 1 ? 1 : 0));
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  const int cores = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  return std::max(1, cores / workers);
}

void sleep_us(int64_t us) {
  timespec ts{static_cast<time_t>(us / 1000000), static_cast<long>((us % 1000000) * 1000)};
  nanosleep(&ts, nullptr);
}

Environment::Environment(int* argc, char*** argv) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    // A run without mpirun/srun is an Open MPI singleton, which by default starts a helper daemon
    // (about 0.1 s) so that it could spawn processes later; dwipack never spawns.
    const bool launched =
        std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_RANK");
    if (!launched) setenv("OMPI_MCA_ess_singleton_isolated", "1", /*overwrite=*/0);
    int provided = 0;
    check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "initialising MPI");
    owned_ = true;
  }
  // Errors come back as return codes, so they can be reported with context.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

Environment::~Environment() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (owned_ && !finalised) MPI_Finalize();
}

Comm::Comm(MPI_Comm parent) {
  check(MPI_Comm_dup(parent, &comm_), "duplicating a communicator");
}

Comm::~Comm() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (comm_ != MPI_COMM_NULL && !finalised) MPI_Comm_free(&comm_);
}

int Comm::rank() const {
  int r = 0;
  MPI_Comm_rank(comm_, &r);
  return r;
}

int Comm::size() const {
  int s = 0;
  MPI_Comm_size(comm_, &s);
  return s;
}

void Comm::send(const std::string& bytes, int dest, Tag tag) const {
  if (bytes.size() > static_cast<size_t>(INT_MAX)) throw Error("message too large for MPI_Send");
  check(MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, dest, static_cast<int>(tag), comm_),
        "sending a message");
}

Comm Comm::duplicate() const {
  return Comm(comm_);
}

Request Comm::isend(const void* data, size_t n_bytes, int dest, Tag tag) const {
  if (n_bytes > static_cast<size_t>(INT_MAX)) throw Error("message too large for MPI_Isend");
  MPI_Request request = MPI_REQUEST_NULL;
  check(MPI_Isend(data, static_cast<int>(n_bytes), MPI_BYTE, dest, static_cast<int>(tag), comm_, &request),
        "starting to send a message");
  return Request(request);
}

bool Comm::message_waiting(int source, Tag tag) const {
  int flag = 0;
  check(MPI_Iprobe(source, static_cast<int>(tag), comm_, &flag, MPI_STATUS_IGNORE), "probing for a message");
  return flag != 0;
}

namespace {
/// Wait (sleeping) for a message from `source` with `tag` (MPI_ANY_TAG allowed), receive it into
/// `bytes` (a std::string or Bytes), and return its status.
template <class Buffer> MPI_Status receive(MPI_Comm comm, Buffer& bytes, int source, int tag) {
  MPI_Status status{};
  int flag = 0;
  wait_sleeping([&] {
    check(MPI_Iprobe(source, tag, comm, &flag, &status), "probing for a message");
    return flag != 0;
  });
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  bytes.resize(static_cast<size_t>(count));
  check(MPI_Recv(bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, comm, MPI_STATUS_IGNORE),
        "receiving a message");
  return status;
}
} // namespace

int Comm::recv(std::string& bytes, int source, Tag tag) const {
  return receive(comm_, bytes, source, static_cast<int>(tag)).MPI_SOURCE;
}

int Comm::recv(Bytes& bytes, int source, Tag tag) const {
  return receive(comm_, bytes, source, static_cast<int>(tag)).MPI_SOURCE;
}

Tag Comm::recv_any_tag(std::string& bytes, int source) const {
  return static_cast<Tag>(receive(comm_, bytes, source, MPI_ANY_TAG).MPI_TAG);
}

void Comm::sleepy_barrier() const {
  MPI_Request request = MPI_REQUEST_NULL;
  check(MPI_Ibarrier(comm_, &request), "starting a barrier");
  wait_sleeping([&] {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "testing a barrier");
    return done != 0;
  });
}

void Comm::broadcast(std::string& bytes, int root) const {
  sleepy_barrier();
  int64_t n = static_cast<int64_t>(bytes.size());
  check(MPI_Bcast(&n, 1, MPI_INT64_T, root, comm_), "broadcasting a size");
  bytes.resize(static_cast<size_t>(n));
  // Broadcast in pieces: MPI counts are ints.
  const int64_t piece = int64_t{1} << 30;
  for (int64_t off = 0; off < n; off += piece) {
    const int len = static_cast<int>(std::min(piece, n - off));
    check(MPI_Bcast(bytes.data() + off, len, MPI_BYTE, root, comm_), "broadcasting data");
  }
}

int Comm::broadcast(int value, int root) const {
  sleepy_barrier();
  check(MPI_Bcast(&value, 1, MPI_INT, root, comm_), "broadcasting a value");
  return value;
}

int Comm::max(int value) const {
  sleepy_barrier();
  int result = value;
  check(MPI_Allreduce(&value, &result, 1, MPI_INT, MPI_MAX, comm_), "reducing a value");
  return result;
}

void Comm::gather_i64(int64_t value, std::vector<int64_t>& at_root, int root) const {
  sleepy_barrier();
  at_root.assign(rank() == root ? static_cast<size_t>(size()) : 0, 0);
  check(MPI_Gather(&value, 1, MPI_INT64_T, at_root.data(), 1, MPI_INT64_T, root, comm_), "gathering values");
}

void Comm::gather(const std::string& value, std::vector<std::string>& at_root, int root) const {
  std::vector<int64_t> sizes;
  gather_i64(static_cast<int64_t>(value.size()), sizes, root); // also the sleepy barrier
  std::vector<int> counts, offsets;
  std::string all;
  for (const int64_t n : sizes) {
    offsets.push_back(static_cast<int>(all.size()));
    counts.push_back(static_cast<int>(n));
    all.resize(all.size() + static_cast<size_t>(n));
    if (all.size() > static_cast<size_t>(INT_MAX))
      throw Error("gathering texts: over 2 GiB in all"); // MPI counts are ints (only the root knows)
  }
  check(MPI_Gatherv(value.data(), static_cast<int>(value.size()), MPI_BYTE, all.data(), counts.data(),
                    offsets.data(), MPI_BYTE, root, comm_),
        "gathering texts");
  at_root.clear();
  for (size_t r = 0; r < counts.size(); ++r)
    at_root.push_back(all.substr(static_cast<size_t>(offsets[r]), static_cast<size_t>(counts[r])));
}

Request& Request::operator=(Request&& other) noexcept {
  if (this != &other) {
    Request released(std::exchange(request_, MPI_REQUEST_NULL)); // freed as the destructor does
    request_ = std::exchange(other.request_, MPI_REQUEST_NULL);
  }
  return *this;
}

Request::~Request() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (request_ != MPI_REQUEST_NULL && !finalised) MPI_Request_free(&request_);
}

bool Request::test() {
  if (request_ == MPI_REQUEST_NULL) return true;
  int done = 0;
  check(MPI_Test(&request_, &done, MPI_STATUS_IGNORE), "testing a non-blocking operation");
  return done != 0; // MPI_Test set request_ to MPI_REQUEST_NULL if done
}

void Request::wait() {
  wait_sleeping([&] { return test(); });
}

void abort_job(MPI_Comm comm, int exit_code) {
  MPI_Abort(comm == MPI_COMM_NULL ? MPI_COMM_WORLD : comm, exit_code);
  std::_Exit(exit_code); // MPI_Abort does not return; this keeps [[noreturn]] honest.
}

} // namespace dwipack::mpi
