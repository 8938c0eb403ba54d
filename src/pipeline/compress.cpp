#include "dwipack/pipeline/compress.hpp"

#include "dwipack/error.hpp"
#include "dwipack/h5/copy.hpp"
#include "dwipack/process/chunk_compress.hpp"
#include "dwipack/util/aligned_buffer.hpp"
#include "dwipack/util/bytes.hpp"
#include "dwipack/util/interrupt.hpp"
#include "dwipack/util/log.hpp"
#include "dwipack/util/unique_fd.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

namespace dwipack::pipeline {

std::string compressed_path(const std::string& partial) {
  return partial + ".z";
}

namespace {

/// Uncompressed bytes per task (at least one chunk-row): what a worker compresses between sends.
constexpr uint64_t task_bytes = uint64_t{4} << 20;
/// Sends a worker keeps in flight, so that it runs ahead of rank 0 (and of the slowest worker).
constexpr size_t send_window = 8;
/// First word of a worker's last message (Tag::compressed_chunks) instead of a task number.
constexpr uint64_t done_marker = ~uint64_t{0};

/// One dataset to compress, as every rank knows it.
struct DatasetJob {
  std::string path;
  std::vector<uint64_t> dims, chunk;
  uint64_t element_bytes = 0;
  uint64_t chunk_rows_per_task = 1; ///< chunk-rows (chunk[0] rows each) per task
  uint64_t first_task = 0, n_tasks = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(
    DatasetJob, path, dims, chunk, element_bytes, chunk_rows_per_task, first_task, n_tasks)

uint64_t row_bytes_of(const DatasetJob& job) {
  uint64_t bytes = job.element_bytes;
  for (size_t i = 1; i < job.dims.size(); ++i)
    bytes *= job.dims[i];
  return bytes;
}

/// The rows [row0, row1) of a task of `job`.
std::pair<uint64_t, uint64_t> rows_of(const DatasetJob& job, uint64_t task) {
  const uint64_t row0 = (task - job.first_task) * job.chunk_rows_per_task * job.chunk[0];
  return {row0, std::min(job.dims[0], row0 + job.chunk_rows_per_task * job.chunk[0])};
}

/// The bytes of data (uncompressed) of every dataset to compress.
uint64_t data_bytes_of(const std::vector<DatasetJob>& jobs) {
  uint64_t bytes = 0;
  for (const auto& job : jobs)
    bytes += job.dims[0] * row_bytes_of(job);
  return bytes;
}

/// Rank 0: how h5::copy_group creates each dataset of the compressed copy (chunked, shuffle +
/// deflate at `level`; a scalar as it is, h5py cannot chunk one either), and the list of datasets
/// whose chunks are to be compressed, in the order of the copy (depth first, name order).
h5::DatasetPolicy compressed_layout(int level, std::vector<DatasetJob>& jobs) {
  return [level, &jobs](const h5::DatasetShape& d) {
    if (d.element_bytes == 0 || d.variable_length)
      throw Error("'" + d.path + "': variable-length data cannot be compressed by dwipack");
    if (d.dims.empty()) return h5::DatasetCreation{h5::untimed_dataset_properties(), true};
    DatasetJob job;
    job.path = d.path;
    job.dims = d.dims;
    job.element_bytes = d.element_bytes;
    job.chunk = process::chunk_shape(job.dims, d.element_bytes, d.name == "data" && d.dims.size() == 2);
    if (job.dims[0] > 0 && row_bytes_of(job) > 0) {
      const uint64_t chunk_row_bytes = job.chunk[0] * row_bytes_of(job);
      if (chunk_row_bytes > (uint64_t{1} << 30))
        throw Error("'" + d.path + "': a row of " + std::to_string(row_bytes_of(job)) +
                    " bytes is too large to be compressed by dwipack");
      job.chunk_rows_per_task = std::max<uint64_t>(1, task_bytes / chunk_row_bytes);
      const uint64_t chunk_rows = (job.dims[0] + job.chunk[0] - 1) / job.chunk[0];
      job.n_tasks = (chunk_rows + job.chunk_rows_per_task - 1) / job.chunk_rows_per_task;
      job.first_task = jobs.empty() ? 0 : jobs.back().first_task + jobs.back().n_tasks;
      jobs.push_back(job);
    }
    return h5::DatasetCreation{h5::deflate_dataset_properties(job.chunk, level, d.path), false};
  };
}

// --- compressing a task (any rank) and storing it (rank 0) ---

/// Byte ranges of the uncompressed file: from the page cache when they are there (--buffered_io
/// wrote them through it), else with O_DIRECT where the file system allows it. The conversion
/// writes the data with O_DIRECT by default, so it is not cached, and a buffered read would cost
/// the kernel a new page-cache page and a copy per 4 KiB (measured: the pass took 1.7x as long).
class RawReader {
public:
  explicit RawReader(const std::string& path)
      : buffered_(UniqueFd::open(path, O_RDONLY)), direct_(UniqueFd::try_open(path, O_RDONLY | O_DIRECT)),
        direct_ok_(direct_.valid()) {}

  /// `n` bytes at `offset` into buffer `slot` (0 or 1; two threads may read into the two);
  /// valid until the slot's next read.
  const unsigned char* read(int slot, uint64_t offset, uint64_t n, const std::string& where) {
    constexpr uint64_t page = AlignedBuffer::page_bytes;
    AlignedBuffer& b = buffers_[static_cast<size_t>(slot)];
    if (direct_ok_) {
      // Cached? (RWF_NOWAIT: a copy from the page cache, or EAGAIN at once, without any I/O.)
      b.reserve(n);
      iovec io{b.data(), n};
      const ssize_t cached = ::preadv2(buffered_.get(), &io, 1, static_cast<off_t>(offset), RWF_NOWAIT);
      if (cached == static_cast<ssize_t>(n)) return b.data();
      const uint64_t begin = offset / page * page, end = (offset + n + page - 1) / page * page;
      b.reserve(end - begin);
      if (read_all(direct_, b, begin, end - begin, offset + n - begin, where))
        return b.data() + (offset - begin);
      direct_ok_ = false; // the file system takes O_DIRECT opens but not reads: buffered from now on
    }
    b.reserve(n);
    read_all(buffered_, b, offset, n, n, where);
    return b.data();
  }

private:
  /// Read up to `n` bytes at `offset` until at least `need` arrived (end of file after that is
  /// fine). Returns false if an O_DIRECT read was refused (EINVAL).
  bool read_all(const UniqueFd& fd,
                AlignedBuffer& b,
                uint64_t offset,
                uint64_t n,
                uint64_t need,
                const std::string& where) {
    uint64_t done = 0;
    while (done < need) {
      const ssize_t r = ::pread(fd.get(), b.data() + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == EINVAL && &fd == &direct_ && done == 0) return false;
      if (r < 0) throw Error("reading '" + where + "' from '" + fd.path() + "': " + std::strerror(errno));
      if (r == 0) throw Error("reading '" + where + "' from '" + fd.path() + "': the file is truncated");
      done += static_cast<uint64_t>(r);
    }
    return true;
  }

  UniqueFd buffered_, direct_; ///< direct_: O_DIRECT, invalid where the file system refuses it
  std::atomic<bool> direct_ok_;
  std::array<AlignedBuffer, 2> buffers_;
};

/// Message: [task][chunk count] then per chunk [compressed bytes][offset per axis][bytes].
class TaskCompressor {
public:
  TaskCompressor(const std::string& source_path, int level)
      : chunk_compressor_(level), raw_(source_path), source_(h5::open_serial(source_path)) {}

  /// Compress task `task` (of `job`) into `message`; meanwhile, read the rows of `next` (the
  /// task this rank compresses next, if any) in the background.
  void run(const DatasetJob& job, uint64_t task, Bytes& message, const DatasetJob* next_job, uint64_t next) {
    if (job.path != open_path_) {
      dataset_ = h5::open_dataset_at(source_.id(), job.path);
      open_path_ = job.path;
    }
    const auto [row0, row1] = rows_of(job, task);
    read_rows(job, task, row0, row1);
    if (next_job) prefetch(*next_job, next);

    const size_t rank = job.dims.size();
    uint64_t chunk_bytes = job.element_bytes;
    for (uint64_t c : job.chunk)
      chunk_bytes *= c;
    chunk_.resize(chunk_bytes);

    // Chunks of this task: along axis 0, each chunk-row; along the others, every chunk.
    std::vector<uint64_t> per_axis(rank, 1);
    for (size_t i = 1; i < rank; ++i)
      per_axis[i] = (job.dims[i] + job.chunk[i] - 1) / job.chunk[i];
    uint64_t chunks_per_row = 1;
    for (size_t i = 1; i < rank; ++i)
      chunks_per_row *= per_axis[i];
    const uint64_t n_chunk_rows = (row1 - row0 + job.chunk[0] - 1) / job.chunk[0];

    message.clear();
    put(message, task);
    put(message, n_chunk_rows * chunks_per_row);
    std::vector<uint64_t> offset(rank);
    for (uint64_t cr = 0; cr < n_chunk_rows; ++cr) {
      for (uint64_t k = 0; k < chunks_per_row; ++k) {
        offset[0] = row0 + cr * job.chunk[0];
        for (size_t i = rank, rest = k; i-- > 1;) {
          offset[i] = (rest % per_axis[i]) * job.chunk[i];
          rest /= per_axis[i];
        }
        const unsigned char* chunk = gather(job, row0, row1, offset);
        const size_t header_at = message.size();
        put(message, 0);
        for (uint64_t o : offset)
          put(message, o);
        const uint64_t n = chunk_compressor_.compress(chunk, chunk_bytes, job.element_bytes, message);
        std::memcpy(message.data() + header_at, &n, sizeof n);
      }
    }
  }

private:
  static void put(Bytes& out, uint64_t value) {
    const size_t at = out.size();
    out.resize(at + sizeof value);
    std::memcpy(out.data() + at, &value, sizeof value);
  }

  /// The file offset of a dataset's data when it is contiguous (as dwipack writes them: its rows
  /// are then a byte range of the file), else nothing. Main thread only (HDF5).
  std::optional<uint64_t> address_of(const std::string& path) {
    const auto it = addresses_.find(path);
    if (it != addresses_.end()) return it->second;
    return addresses_[path] = h5::contiguous_offset(source_.id(), path);
  }

  /// Start reading a task's rows into the free buffer, on another thread (plain reads, no HDF5).
  void prefetch(const DatasetJob& job, uint64_t task) {
    const std::optional<uint64_t> found = address_of(job.path);
    if (!found) return;
    const uint64_t address = *found;
    const auto [row0, row1] = rows_of(job, task);
    const uint64_t row_bytes = row_bytes_of(job);
    const int slot = 1 - slot_;
    const std::string where = job.path;
    pending_task_ = task;
    pending_slot_ = slot;
    pending_ = std::async(std::launch::async, [this, slot, address, row0, row1, row_bytes, where] {
      return raw_.read(slot, address + row0 * row_bytes, (row1 - row0) * row_bytes, where);
    });
  }

  void read_rows(const DatasetJob& job, uint64_t task, uint64_t row0, uint64_t row1) {
    if (pending_.valid()) {
      const unsigned char* rows = pending_.get(); // rethrows the read's error, if any
      if (pending_task_ == task) {
        rows_data_ = rows;
        slot_ = pending_slot_;
        return;
      }
    }
    if (const std::optional<uint64_t> address = address_of(job.path)) {
      rows_data_ =
          raw_.read(slot_, *address + row0 * row_bytes_of(job), (row1 - row0) * row_bytes_of(job), job.path);
      return;
    }
    rows_.resize((row1 - row0) * row_bytes_of(job));
    h5::read_rows(dataset_.id(), job.dims, row0, row1, rows_.data(), job.path);
    rows_data_ = rows_.data();
  }

  /// The chunk at `offset` from the rows [row0, row1) read, zero-padded past the dataset's edges
  /// (HDF5 stores edge chunks whole).
  const unsigned char*
  gather(const DatasetJob& job, uint64_t row0, uint64_t row1, const std::vector<uint64_t>& offset) {
    const size_t rank = job.dims.size();
    const uint64_t es = job.element_bytes;
    std::vector<uint64_t> extent(rank); // the part of the chunk inside the dataset
    for (size_t i = 0; i < rank; ++i)
      extent[i] = std::min(job.chunk[i], (i == 0 ? row1 : job.dims[i]) - offset[i]);
    bool whole_rows = true;
    for (size_t i = 1; i < rank; ++i)
      whole_rows = whole_rows && job.chunk[i] == job.dims[i];
    if (whole_rows) { // the common case: the chunk is contiguous in the rows read
      const unsigned char* start = rows_data_ + (offset[0] - row0) * row_bytes_of(job);
      if (extent[0] == job.chunk[0]) return start; // and whole: no copy
      const uint64_t n = extent[0] * row_bytes_of(job);
      std::memcpy(chunk_.data(), start, n);
      std::memset(chunk_.data() + n, 0, chunk_.size() - n);
      return chunk_.data();
    }
    std::fill(chunk_.begin(), chunk_.end(), 0);
    // Strides (bytes) of the rows buffer and of the chunk.
    std::vector<uint64_t> src_stride(rank), dst_stride(rank);
    src_stride[rank - 1] = dst_stride[rank - 1] = es;
    for (size_t i = rank - 1; i-- > 0;) {
      src_stride[i] = src_stride[i + 1] * job.dims[i + 1];
      dst_stride[i] = dst_stride[i + 1] * job.chunk[i + 1];
    }
    std::vector<uint64_t> index(rank, 0); // over every axis but the last
    for (;;) {
      uint64_t src = (offset[0] - row0 + index[0]) * src_stride[0], dst = index[0] * dst_stride[0];
      for (size_t i = 1; i + 1 < rank; ++i) {
        src += (offset[i] + index[i]) * src_stride[i];
        dst += index[i] * dst_stride[i];
      }
      src += offset[rank - 1] * es;
      std::memcpy(chunk_.data() + dst, rows_data_ + src, extent[rank - 1] * es);
      size_t axis = rank - 1;
      while (axis-- > 0) {
        if (++index[axis] < extent[axis]) break;
        index[axis] = 0;
      }
      if (axis == static_cast<size_t>(-1)) return chunk_.data();
    }
  }

  process::ChunkCompressor chunk_compressor_;
  RawReader raw_;
  h5::Handle source_, dataset_;
  std::map<std::string, std::optional<uint64_t>> addresses_;
  std::string open_path_;
  Bytes rows_, chunk_;
  const unsigned char* rows_data_ = nullptr;  ///< the rows read (in rows_ or in raw_'s slot_)
  int slot_ = 0;                              ///< raw_'s buffer holding the rows being compressed
  std::future<const unsigned char*> pending_; ///< the prefetch of the next task's rows
  uint64_t pending_task_ = 0;
  int pending_slot_ = 1;
};

/// Rank 0: store a task's compressed chunks in the copy.
class ChunkStore {
public:
  explicit ChunkStore(const h5::Handle& file) : file_(file) {}

  void write(const DatasetJob& job, const Bytes& message) {
    if (job.path != open_path_) {
      dataset_ = h5::open_dataset_at(file_.id(), job.path);
      open_path_ = job.path;
    }
    const size_t rank = job.dims.size();
    size_t at = 2 * sizeof(uint64_t);
    const uint64_t n_chunks = get(message, sizeof(uint64_t));
    std::vector<uint64_t> offset(rank);
    for (uint64_t c = 0; c < n_chunks; ++c) {
      const uint64_t n = get(message, at);
      at += sizeof(uint64_t);
      for (size_t i = 0; i < rank; ++i, at += sizeof(uint64_t))
        offset[i] = get(message, at);
      if (at + n > message.size()) throw Error("compressed copy: a truncated message for '" + job.path + "'");
      h5::write_chunk(dataset_.id(), offset, message.data() + at, n, job.path);
      at += n;
      bytes_ += n;
    }
  }
  uint64_t bytes() const { return bytes_; }
  /// Close the dataset being written, reporting a failure (before the file is closed: the file
  /// is only really closed, and flushed, once its last object is).
  void close() {
    if (dataset_.valid()) dataset_.close("dataset '" + open_path_ + "'");
  }

  static uint64_t get(const Bytes& message, size_t at) {
    uint64_t value = 0;
    if (at + sizeof value > message.size()) throw Error("compressed copy: a truncated message");
    std::memcpy(&value, message.data() + at, sizeof value);
    return value;
  }

private:
  const h5::Handle& file_;
  h5::Handle dataset_;
  std::string open_path_;
  uint64_t bytes_ = 0;
};

const DatasetJob& job_of(const std::vector<DatasetJob>& jobs, uint64_t task) {
  const auto it = std::upper_bound(jobs.begin(), jobs.end(), task,
                                   [](uint64_t t, const DatasetJob& j) { return t < j.first_task; });
  return *(it - 1);
}

/// A worker: compress tasks first, first + step, ... and send them to rank 0, a few in flight.
/// Returns the signal in rank 0's final message.
int run_worker(const std::vector<DatasetJob>& jobs,
               uint64_t n_tasks,
               uint64_t first,
               uint64_t step,
               const std::string& from,
               int level,
               const mpi::Comm& comm) {
  TaskCompressor compressor(from, level);
  std::vector<Bytes> messages(send_window);
  std::vector<mpi::Request> requests(send_window);
  Bytes final_message;
  bool final_received = false;
  uint64_t own_signal = 0;
  size_t slot = 0;
  for (uint64_t t = first; t < n_tasks; t += step) {
    if (comm.message_waiting(0, mpi::Tag::compression_over)) { // rank 0 stopped the pass
      comm.recv(final_message, 0, mpi::Tag::compression_over);
      final_received = true;
      break;
    }
    if (const int s = interrupt::received()) {
      own_signal = static_cast<uint64_t>(s);
      break;
    }
    requests[slot].wait(); // the slot's previous message has left
    const uint64_t next = t + step;
    compressor.run(job_of(jobs, t), t, messages[slot], next < n_tasks ? &job_of(jobs, next) : nullptr, next);
    requests[slot] = comm.isend(messages[slot].data(), messages[slot].size(), 0, mpi::Tag::compressed_chunks);
    slot = (slot + 1) % send_window;
  }
  // "done" (with this rank's signal, if it stopped because of one) after every task it sent.
  Bytes done(2 * sizeof(uint64_t));
  std::memcpy(done.data(), &done_marker, sizeof done_marker);
  std::memcpy(done.data() + sizeof(uint64_t), &own_signal, sizeof own_signal);
  mpi::Request done_request = comm.isend(done.data(), done.size(), 0, mpi::Tag::compressed_chunks);
  for (auto& r : requests)
    r.wait();
  done_request.wait();
  if (!final_received) comm.recv(final_message, 0, mpi::Tag::compression_over);
  return static_cast<int>(ChunkStore::get(final_message, 0));
}

void send_final(uint64_t signal, const mpi::Comm& comm) {
  const std::string message(reinterpret_cast<const char*>(&signal), sizeof signal);
  for (int w = 1; w < comm.size(); ++w)
    comm.send(message, w, mpi::Tag::compression_over);
}

/// Collective over comm. Rank 0 creates the copy's structure in `target` (a serial file: only
/// rank 0 opens it); every rank learns the datasets to compress.
std::vector<DatasetJob> create_structure(
    const std::string& from, const std::string& to, int level, const mpi::Comm& comm, h5::Handle& target) {
  std::vector<DatasetJob> jobs;
  std::string jobs_text;
  if (comm.rank() == 0) {
    h5::Handle source = h5::open_serial(from);
    target = h5::create_serial(to);
    h5::copy_group(source.id(), target.id(), "/", compressed_layout(level, jobs));
    source.close("HDF5 file '" + from + "'");
    jobs_text = nlohmann::json(jobs).dump();
  }
  if (comm.size() > 1) {
    comm.broadcast(jobs_text, 0);
    if (comm.rank() != 0) jobs = nlohmann::json::parse(jobs_text).get<std::vector<DatasetJob>>();
  }
  return jobs;
}

/// Rank 0: store every task's chunks, in task order (the file's layout does not depend on the
/// number of ranks); with one rank, compress them too. Reports each task stored to `on_stored`.
/// Returns the signal that stopped the pass, or 0 once every task is stored; either way every
/// worker has sent its "done".
uint64_t store_tasks(const std::vector<DatasetJob>& jobs,
                     uint64_t n_tasks,
                     ChunkStore& store,
                     const std::string& from,
                     int level,
                     const mpi::Comm& comm,
                     const CompressionProgress& on_stored) {
  const int size = comm.size();
  Bytes message;
  std::unique_ptr<TaskCompressor> compressor;
  if (size == 1) compressor = std::make_unique<TaskCompressor>(from, level);
  uint64_t signal = 0, stored_bytes = 0;
  const uint64_t total_bytes = data_bytes_of(jobs);
  std::vector<bool> done(static_cast<size_t>(size), false);
  for (uint64_t t = 0; t < n_tasks && signal == 0; ++t) {
    if (const int s = interrupt::received()) {
      signal = static_cast<uint64_t>(s);
      break;
    }
    const DatasetJob& job = job_of(jobs, t);
    if (compressor) {
      compressor->run(job, t, message, t + 1 < n_tasks ? &job_of(jobs, t + 1) : nullptr, t + 1);
    } else {
      const int worker = 1 + static_cast<int>(t % static_cast<uint64_t>(size - 1));
      comm.recv(message, worker, mpi::Tag::compressed_chunks);
      const uint64_t task = ChunkStore::get(message, 0);
      if (task == done_marker) { // that worker stopped on a signal
        done[static_cast<size_t>(worker)] = true;
        signal = std::max<uint64_t>(1, ChunkStore::get(message, sizeof(uint64_t)));
        break;
      }
      if (task != t)
        throw Error("compressed copy: rank " + std::to_string(worker) + " sent task " + std::to_string(task) +
                    ", expected " + std::to_string(t));
    }
    store.write(job, message);
    const auto [row0, row1] = rows_of(job, t);
    stored_bytes += (row1 - row0) * row_bytes_of(job);
    if (on_stored) on_stored(stored_bytes, total_bytes);
  }
  if (signal != 0) send_final(signal, comm); // the workers stop at their next task
  for (int w = 1; w < size; ++w)             // every worker ends with "done", after its last task
    while (!done[static_cast<size_t>(w)]) {
      comm.recv(message, w, mpi::Tag::compressed_chunks);
      if (ChunkStore::get(message, 0) == done_marker)
        done[static_cast<size_t>(w)] = true;
      else if (signal == 0)
        throw Error("compressed copy: rank " + std::to_string(w) + " sent more tasks than expected");
    }
  return signal;
}

void log_summary(const std::vector<DatasetJob>& jobs,
                 const ChunkStore& store,
                 const std::string& to,
                 int level,
                 int size,
                 std::chrono::steady_clock::time_point t0) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  struct stat st {};
  const double file_mb = ::stat(to.c_str(), &st) == 0 ? static_cast<double>(st.st_size) / 1e6 : -1.0;
  const uint64_t data_bytes = data_bytes_of(jobs);
  char text[256];
  std::snprintf(
      text, sizeof text,
      "compressed copy (shuffle + gzip level %d, %d rank(s)): %.1f MB of data in %.1f MB of chunks, "
      "file %.1f MB, in %.2f s",
      level, size, static_cast<double>(data_bytes) / 1e6, static_cast<double>(store.bytes()) / 1e6, file_mb,
      seconds);
  log::info(text);
}

} // namespace

int write_compressed_copy(const std::string& from,
                          const std::string& to,
                          int level,
                          const mpi::Comm& parent,
                          const CompressionProgress& on_stored) {
  if (level < 1 || level > 9) throw Error("gzip level " + std::to_string(level) + " is not in 1..9");
  const auto t0 = std::chrono::steady_clock::now();
  const mpi::Comm comm = parent.duplicate(); // the pass's messages never meet the caller's
  const int rank = comm.rank(), size = comm.size();
  h5::Handle target;
  const std::vector<DatasetJob> jobs = create_structure(from, to, level, comm, target);
  const uint64_t n_tasks = jobs.empty() ? 0 : jobs.back().first_task + jobs.back().n_tasks;
  if (rank != 0) {
    const auto workers = static_cast<uint64_t>(size - 1);
    return run_worker(jobs, n_tasks, static_cast<uint64_t>(rank - 1), workers, from, level, comm);
  }

  ChunkStore store(target);
  if (on_stored) on_stored(0, data_bytes_of(jobs));
  if (const uint64_t signal = store_tasks(jobs, n_tasks, store, from, level, comm, on_stored); signal != 0) {
    target = h5::Handle(); // closed without checking: the file is removed
    std::remove(to.c_str());
    return static_cast<int>(signal);
  }
  store.close();
  target.close("HDF5 file '" + to + "'");
  send_final(0, comm);
  log_summary(jobs, store, to, level, size, t0);
  return 0;
}

} // namespace dwipack::pipeline
