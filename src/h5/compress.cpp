#include "dwipack/h5/compress.hpp"

#include "dwipack/error.hpp"
#include "dwipack/h5/handle.hpp"
#include "dwipack/util/interrupt.hpp"
#include "dwipack/util/log.hpp"

#include <hdf5.h>
#include <libdeflate.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <future>
#include <map>
#include <memory>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

namespace dwipack::h5 {

std::string compressed_path(const std::string& partial) {
  return partial + ".z";
}

std::vector<uint64_t>
chunk_shape(const std::vector<uint64_t>& dims, size_t element_bytes, bool streamline_points) {
  const uint64_t target = streamline_points  ? (uint64_t{96} << 10)
                          : dims.size() >= 3 ? (uint64_t{4} << 20)
                                             : (uint64_t{1} << 20);
  // bytes[i]: one index along axis i with all of the axes after it.
  std::vector<uint64_t> bytes(dims.size() + 1, std::max<uint64_t>(1, element_bytes));
  for (size_t i = dims.size(); i-- > 0;)
    bytes[i] = bytes[i + 1] * std::max<uint64_t>(1, dims[i]);
  std::vector<uint64_t> chunk(dims.size());
  bool filled = false;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (filled) {
      chunk[i] = std::max<uint64_t>(1, dims[i]);
    } else if (bytes[i + 1] <= target || i + 1 == dims.size()) {
      const uint64_t fit = std::max<uint64_t>(1, target / bytes[i + 1]);
      chunk[i] = dims[i] == 0 ? fit : std::min(fit, dims[i]);
      filled = true;
    } else {
      chunk[i] = 1; // one index of this axis is still too large: split the next axis too
    }
  }
  return chunk;
}

void shuffle_bytes(const unsigned char* in, unsigned char* out, size_t bytes, size_t element_bytes) {
  const size_t n = element_bytes > 1 ? bytes / element_bytes : 0;
  if (n <= 1) {
    std::memcpy(out, in, bytes);
    return;
  }
  if (element_bytes == 4) {
    for (size_t i = 0; i < n; ++i) {
      out[i] = in[4 * i];
      out[n + i] = in[4 * i + 1];
      out[2 * n + i] = in[4 * i + 2];
      out[3 * n + i] = in[4 * i + 3];
    }
  } else {
    for (size_t b = 0; b < element_bytes; ++b)
      for (size_t i = 0; i < n; ++i)
        out[b * n + i] = in[i * element_bytes + b];
  }
  const size_t tail = n * element_bytes;
  std::memcpy(out + tail, in + tail, bytes - tail);
}

ChunkCompressor::ChunkCompressor(int level)
    : compressor_(libdeflate_alloc_compressor(level)), level_(level),
      stored_above_bits_(level <= 3 ? 7.2 : 7.92) {
  if (!compressor_) throw Error("cannot allocate a deflate compressor (level " + std::to_string(level) + ")");
}

ChunkCompressor::~ChunkCompressor() {
  libdeflate_free_compressor(compressor_);
}

namespace {

/// Order-0 entropy of `n` bytes in bits per byte, estimated from about 8192 evenly spaced bytes
/// (with the Miller-Madow correction of the estimate's bias from a finite sample).
double entropy_bits(const unsigned char* p, size_t n) {
  if (n == 0) return 0;
  const size_t stride = std::max<size_t>(1, n / 8192);
  std::array<std::array<uint32_t, 256>, 4> counts{}; // four tables: no store-to-load stalls
  size_t i = 0, samples = 0;
  for (; i + 3 * stride < n; i += 4 * stride, samples += 4) {
    ++counts[0][p[i]];
    ++counts[1][p[i + stride]];
    ++counts[2][p[i + 2 * stride]];
    ++counts[3][p[i + 3 * stride]];
  }
  for (; i < n; i += stride, ++samples)
    ++counts[0][p[i]];
  double bits = 0;
  int seen = 0;
  for (int v = 0; v < 256; ++v) {
    const uint32_t c = counts[0][v] + counts[1][v] + counts[2][v] + counts[3][v];
    if (c) {
      const double q = static_cast<double>(c) / static_cast<double>(samples);
      bits -= q * std::log2(q);
      ++seen;
    }
  }
  return bits + (seen - 1) / (2.0 * static_cast<double>(samples) * std::log(2.0));
}

} // namespace

size_t ChunkCompressor::compress(const unsigned char* chunk, size_t bytes, size_t element_bytes, Bytes& out) {
  shuffled_.resize(bytes);
  shuffle_bytes(chunk, shuffled_.data(), bytes, element_bytes);
  const unsigned char* data = shuffled_.data();
  // Planes (after the shuffle) from the first: how many bytes are noise, to be stored as they are.
  size_t stored = 0;
  const size_t plane = element_bytes > 1 ? bytes / element_bytes : 0;
  if (plane >= 4096) // too few bytes for the estimate to mean anything otherwise
    while (stored + plane <= bytes && entropy_bits(data + stored, plane) > stored_above_bits_)
      stored += plane;
  const size_t rest = bytes - stored;

  const size_t start = out.size();
  // zlib header (RFC 1950): deflate, 32 KiB window, FLEVEL as libdeflate and zlib write it.
  const unsigned char flg = level_ < 2 ? 0x01 : level_ < 6 ? 0x5e : level_ == 6 ? 0x9c : 0xda;
  out.push_back(0x78);
  out.push_back(flg);
  // Stored blocks (RFC 1951 §3.2.4): byte-aligned, at most 65535 bytes each. An empty chunk is
  // one empty final stored block.
  const auto stored_block = [&](const unsigned char* p, size_t n, bool final) {
    out.push_back(final ? 0x01 : 0x00);
    out.push_back(static_cast<unsigned char>(n & 0xff));
    out.push_back(static_cast<unsigned char>(n >> 8));
    out.push_back(static_cast<unsigned char>(~n & 0xff));
    out.push_back(static_cast<unsigned char>((~n >> 8) & 0xff));
    out.insert(out.end(), p, p + n);
  };
  if (bytes == 0) stored_block(data, 0, true);
  for (size_t done = 0; done < stored;) {
    const size_t n = std::min<size_t>(65535, stored - done);
    stored_block(data + done, n, done + n == stored && rest == 0);
    done += n;
  }
  if (rest > 0) { // the rest, deflated; its last block is the stream's final one
    const size_t bound = libdeflate_deflate_compress_bound(compressor_, rest);
    const size_t at = out.size();
    out.resize(at + bound);
    const size_t n = libdeflate_deflate_compress(compressor_, data + stored, rest, out.data() + at, bound);
    if (n == 0) throw Error("deflate failed");
    out.resize(at + n);
  }
  const uint32_t adler = libdeflate_adler32(1, data, bytes); // of the uncompressed (shuffled) bytes
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<unsigned char>((adler >> shift) & 0xff));
  return out.size() - start;
}

namespace {

/// Uncompressed bytes per task (at least one chunk-row): what a worker compresses between sends.
constexpr uint64_t task_bytes = uint64_t{4} << 20;
/// Sends a worker keeps in flight, so that it runs ahead of rank 0 (and of the slowest worker).
constexpr size_t send_window = 8;
/// Messages of this pass, on a private duplicate of the caller's communicator.
constexpr int tag_chunks = 31; ///< worker -> rank 0: a task's compressed chunks, or "done"
constexpr int tag_final = 32;  ///< rank 0 -> worker: the pass is over (payload: the stop signal)
constexpr uint64_t done_marker = ~uint64_t{0};

// --- MPI with sleeping waits (a waiting rank must not take a core from a compressing one) ---

void check_mpi(int rc, const char* what) {
  if (rc != MPI_SUCCESS)
    throw Error(std::string("compressed copy: ") + what + " failed (MPI error " + std::to_string(rc) + ")");
}

class Napper {
public:
  void operator()() {
    timespec ts{0, static_cast<long>(pause_us_ * 1000)};
    nanosleep(&ts, nullptr);
    pause_us_ = std::min<int64_t>(pause_us_ * 2, 2000);
  }

private:
  int64_t pause_us_ = 20;
};

void wait_sleeping(MPI_Request& request, const char* what) {
  Napper nap;
  for (;;) {
    int done = 0;
    check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    nap();
  }
}

bool message_waiting(int source, int tag, MPI_Comm comm) {
  int flag = 0;
  check_mpi(MPI_Iprobe(source, tag, comm, &flag, MPI_STATUS_IGNORE), "MPI_Iprobe");
  return flag != 0;
}

void receive_sleeping(Bytes& buffer, int source, int tag, MPI_Comm comm) {
  Napper nap;
  MPI_Status status;
  for (;;) {
    int flag = 0;
    check_mpi(MPI_Iprobe(source, tag, comm, &flag, &status), "MPI_Iprobe");
    if (flag) break;
    nap();
  }
  int count = 0;
  check_mpi(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
  buffer.resize(static_cast<size_t>(count));
  check_mpi(MPI_Recv(buffer.data(), count, MPI_BYTE, source, tag, comm, MPI_STATUS_IGNORE), "MPI_Recv");
}

/// Broadcast a string from rank 0, waiting with sleeps.
void broadcast_sleeping(std::string& text, MPI_Comm comm) {
  uint64_t size = text.size();
  MPI_Request request;
  check_mpi(MPI_Ibcast(&size, 1, MPI_UINT64_T, 0, comm, &request), "MPI_Ibcast");
  wait_sleeping(request, "MPI_Ibcast");
  text.resize(size);
  check_mpi(MPI_Ibcast(text.data(), static_cast<int>(size), MPI_CHAR, 0, comm, &request), "MPI_Ibcast");
  wait_sleeping(request, "MPI_Ibcast");
}

class OwnComm {
public:
  explicit OwnComm(MPI_Comm parent) { check_mpi(MPI_Comm_dup(parent, &comm_), "MPI_Comm_dup"); }
  ~OwnComm() {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  }
  OwnComm(const OwnComm&) = delete;
  OwnComm& operator=(const OwnComm&) = delete;
  MPI_Comm get() const { return comm_; }

private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

/// Serial file access: the default driver, with file locks that are skipped (not an error) on
/// file systems that do not support them, as parallel file systems often do not.
Handle serial_access() {
  Handle fapl(check_id(H5Pcreate(H5P_FILE_ACCESS), "creating a file access property list"));
  check(H5Pset_file_locking(fapl.id(), true, true), "setting file locking");
  return fapl;
}

// --- the file's structure (rank 0) ---

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

/// The names of `loc`'s attributes, in name order.
std::vector<std::string> attribute_names(hid_t loc, const std::string& where) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  const auto add = [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->push_back(name);
    return 0;
  };
  check(H5Aiterate2(loc, H5_INDEX_NAME, H5_ITER_INC, &idx, add, &names),
        "listing the attributes of '" + where + "'");
  return names;
}

/// Copy every attribute of `src` to `dst`: same name and name encoding, type, dataspace and
/// value (variable-length strings included).
void copy_attributes(hid_t src, hid_t dst, const std::string& where) {
  for (const auto& name : attribute_names(src, where)) {
    const std::string what = "attribute '" + name + "' of '" + where + "'";
    Handle a(check_id(H5Aopen(src, name.c_str(), H5P_DEFAULT), "opening " + what));
    Handle type(check_id(H5Aget_type(a.id()), "reading the type of " + what));
    Handle space(check_id(H5Aget_space(a.id()), "reading the dataspace of " + what));
    Handle src_acpl(check_id(H5Aget_create_plist(a.id()), "reading the properties of " + what));
    H5T_cset_t cset = H5T_CSET_ASCII;
    check(H5Pget_char_encoding(src_acpl.id(), &cset), "reading the name encoding of " + what);
    Handle acpl(check_id(H5Pcreate(H5P_ATTRIBUTE_CREATE), "creating an attribute property list"));
    check(H5Pset_char_encoding(acpl.id(), cset), "setting the name encoding of " + what);

    const hssize_t n = H5Sget_simple_extent_npoints(space.id());
    const size_t size = H5Tget_size(type.id());
    if (n < 0 || size == 0) throw Error("reading the size of " + what + ": " + error_stack_text());
    // HDF5 refuses a null buffer even for zero elements.
    std::vector<unsigned char> value(std::max<size_t>(1, static_cast<size_t>(n) * size));
    check(H5Aread(a.id(), type.id(), value.data()), "reading " + what);
    const bool has_vlen = H5Tis_variable_str(type.id()) > 0 || H5Tdetect_class(type.id(), H5T_VLEN) > 0;
    Handle b(check_id(H5Acreate2(dst, name.c_str(), type.id(), space.id(), acpl.id(), H5P_DEFAULT),
                      "creating " + what));
    const herr_t written = H5Awrite(b.id(), type.id(), value.data());
    if (has_vlen) H5Dvlen_reclaim(type.id(), space.id(), H5P_DEFAULT, value.data());
    check(written, "writing " + what);
    b.close(what);
  }
}

/// The links under `loc`, in name order, with their name encodings.
std::vector<std::pair<std::string, H5T_cset_t>> link_names(hid_t loc, const std::string& where) {
  std::vector<std::pair<std::string, H5T_cset_t>> names;
  hsize_t idx = 0;
  const auto add = [](hid_t, const char* name, const H5L_info_t* info, void* data) -> herr_t {
    static_cast<std::vector<std::pair<std::string, H5T_cset_t>>*>(data)->emplace_back(name, info->cset);
    return 0;
  };
  check(H5Literate(loc, H5_INDEX_NAME, H5_ITER_INC, &idx, add, &names),
        "listing the members of '" + where + "'");
  return names;
}

std::string child_path(const std::string& parent, const std::string& name) {
  return parent == "/" ? "/" + name : parent + "/" + name;
}

/// Rank 0: the groups, attributes and (empty) datasets of the copy, and the list of datasets.
class StructureCopier {
public:
  StructureCopier(int level, std::vector<DatasetJob>& jobs) : level_(level), jobs_(jobs) {}

  void copy_group(hid_t src, hid_t dst, const std::string& where) {
    copy_attributes(src, dst, where);
    for (const auto& [name, cset] : link_names(src, where)) {
      const std::string path = child_path(where, name);
      Handle object(check_id(H5Oopen(src, name.c_str(), H5P_DEFAULT), "opening '" + path + "'"));
      Handle lcpl(check_id(H5Pcreate(H5P_LINK_CREATE), "creating a link property list"));
      check(H5Pset_char_encoding(lcpl.id(), cset), "setting a link name encoding");
      const H5I_type_t type = H5Iget_type(object.id());
      if (type == H5I_GROUP) {
        Handle gcpl(check_id(H5Pcreate(H5P_GROUP_CREATE), "creating a group property list"));
        check(H5Pset_obj_track_times(gcpl.id(), false), "disabling group timestamps");
        Handle group(check_id(H5Gcreate2(dst, name.c_str(), lcpl.id(), gcpl.id(), H5P_DEFAULT),
                              "creating group '" + path + "'"));
        copy_group(object.id(), group.id(), path);
        group.close("group '" + path + "'");
      } else if (type == H5I_DATASET) {
        copy_dataset(object.id(), dst, name, lcpl.id(), path);
      } else {
        throw Error("'" + path + "' is neither a group nor a dataset; it cannot be copied");
      }
    }
  }

private:
  void
  copy_dataset(hid_t src, hid_t dst_parent, const std::string& name, hid_t lcpl, const std::string& path) {
    Handle type(check_id(H5Dget_type(src), "reading the type of '" + path + "'"));
    Handle space(check_id(H5Dget_space(src), "reading the dataspace of '" + path + "'"));
    const int rank = H5Sget_simple_extent_ndims(space.id());
    if (rank < 0) throw Error("reading the shape of '" + path + "': " + error_stack_text());
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    if (rank > 0) H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
    const size_t element_bytes = H5Tget_size(type.id());
    if (element_bytes == 0 || H5Tis_variable_str(type.id()) > 0 || H5Tdetect_class(type.id(), H5T_VLEN) > 0)
      throw Error("'" + path + "': variable-length data cannot be compressed by dwipack");

    Handle dcpl(check_id(H5Pcreate(H5P_DATASET_CREATE), "creating a dataset property list"));
    check(H5Pset_obj_track_times(dcpl.id(), false), "disabling dataset timestamps");
    DatasetJob job;
    job.path = path;
    job.dims.assign(dims.begin(), dims.end());
    job.element_bytes = element_bytes;
    if (rank > 0) { // a scalar is stored as it is (h5py cannot chunk one either)
      job.chunk = chunk_shape(job.dims, element_bytes, name == "data" && rank == 2);
      const std::vector<hsize_t> chunk(job.chunk.begin(), job.chunk.end());
      check(H5Pset_chunk(dcpl.id(), rank, chunk.data()), "setting the chunks of '" + path + "'");
      check(H5Pset_shuffle(dcpl.id()), "adding the shuffle filter to '" + path + "'");
      check(H5Pset_deflate(dcpl.id(), static_cast<unsigned>(level_)), "adding deflate to '" + path + "'");
      check(H5Pset_fill_time(dcpl.id(), H5D_FILL_TIME_ALLOC), "setting the fill time"); // as h5py
    }
    Handle dst(
        check_id(H5Dcreate2(dst_parent, name.c_str(), type.id(), space.id(), lcpl, dcpl.id(), H5P_DEFAULT),
                 "creating dataset '" + path + "'"));
    copy_attributes(src, dst.id(), path);
    if (rank == 0) {
      std::vector<unsigned char> value(element_bytes);
      check(H5Dread(src, type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, value.data()), "reading '" + path + "'");
      check(H5Dwrite(dst.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, value.data()),
            "writing '" + path + "'");
    } else if (dims[0] > 0 && row_bytes_of(job) > 0) {
      const uint64_t chunk_row_bytes = job.chunk[0] * row_bytes_of(job);
      if (chunk_row_bytes > (uint64_t{1} << 30))
        throw Error("'" + path + "': a row of " + std::to_string(row_bytes_of(job)) +
                    " bytes is too large to be compressed by dwipack");
      job.chunk_rows_per_task = std::max<uint64_t>(1, task_bytes / chunk_row_bytes);
      const uint64_t chunk_rows = (dims[0] + job.chunk[0] - 1) / job.chunk[0];
      job.n_tasks = (chunk_rows + job.chunk_rows_per_task - 1) / job.chunk_rows_per_task;
      job.first_task = jobs_.empty() ? 0 : jobs_.back().first_task + jobs_.back().n_tasks;
      jobs_.push_back(job);
    }
    dst.close("dataset '" + path + "'");
  }

  int level_;
  std::vector<DatasetJob>& jobs_;
};

// --- compressing a task (any rank) and storing it (rank 0) ---

/// Byte ranges of the uncompressed file: from the page cache when they are there (--buffered_io
/// wrote them through it), else with O_DIRECT where the file system allows it. The conversion
/// writes the data with O_DIRECT by default, so it is not cached, and a buffered read would cost
/// the kernel a new page-cache page and a copy per 4 KiB (measured: the pass took 1.7x as long).
class RawReader {
public:
  explicit RawReader(const std::string& path) : path_(path) {
    buffered_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (buffered_fd_ < 0) throw Error("opening '" + path + "': " + std::strerror(errno));
    direct_fd_ = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
    direct_ok_ = direct_fd_ >= 0;
  }
  ~RawReader() {
    if (direct_fd_ >= 0) ::close(direct_fd_);
    ::close(buffered_fd_);
  }
  RawReader(const RawReader&) = delete;
  RawReader& operator=(const RawReader&) = delete;

  /// `n` bytes at `offset` into buffer `slot` (0 or 1; two threads may read into the two);
  /// valid until the slot's next read.
  const unsigned char* read(int slot, uint64_t offset, uint64_t n, const std::string& where) {
    constexpr uint64_t page = 4096;
    Buffer& b = buffers_[static_cast<size_t>(slot)];
    if (direct_ok_) {
      // Cached? (RWF_NOWAIT: a copy from the page cache, or EAGAIN at once, without any I/O.)
      b.reserve(n);
      iovec io{b.data.get(), n};
      const ssize_t cached = ::preadv2(buffered_fd_, &io, 1, static_cast<off_t>(offset), RWF_NOWAIT);
      if (cached == static_cast<ssize_t>(n)) return b.data.get();
      const uint64_t begin = offset / page * page, end = (offset + n + page - 1) / page * page;
      b.reserve(end - begin);
      if (read_all(direct_fd_, b, begin, end - begin, offset + n - begin, where))
        return b.data.get() + (offset - begin);
      direct_ok_ = false; // the file system takes O_DIRECT opens but not reads: buffered from now on
    }
    b.reserve(n);
    read_all(buffered_fd_, b, offset, n, n, where);
    return b.data.get();
  }

private:
  struct FreeDeleter {
    void operator()(unsigned char* p) const noexcept { std::free(p); }
  };
  struct Buffer {
    std::unique_ptr<unsigned char, FreeDeleter> data;
    uint64_t capacity = 0;
    void reserve(uint64_t n) {
      if (n <= capacity) return;
      void* p = nullptr;
      if (posix_memalign(&p, 4096, n) != 0) throw std::bad_alloc();
      data.reset(static_cast<unsigned char*>(p));
      capacity = n;
    }
  };

  /// Read up to `n` bytes at `offset` until at least `need` arrived (end of file after that is
  /// fine). Returns false if an O_DIRECT read was refused (EINVAL).
  bool read_all(int fd, Buffer& b, uint64_t offset, uint64_t n, uint64_t need, const std::string& where) {
    uint64_t done = 0;
    while (done < need) {
      const ssize_t r = ::pread(fd, b.data.get() + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == EINVAL && fd == direct_fd_ && done == 0) return false;
      if (r < 0) throw Error("reading '" + where + "' from '" + path_ + "': " + std::strerror(errno));
      if (r == 0) throw Error("reading '" + where + "' from '" + path_ + "': the file is truncated");
      done += static_cast<uint64_t>(r);
    }
    return true;
  }

  std::string path_;
  int buffered_fd_ = -1, direct_fd_ = -1;
  std::atomic<bool> direct_ok_{false};
  std::array<Buffer, 2> buffers_;
};

/// Message: [task][chunk count] then per chunk [compressed bytes][offset per axis][bytes].
class TaskCompressor {
public:
  TaskCompressor(const std::string& source_path, int level) : chunk_compressor_(level), raw_(source_path) {
    source_ = Handle(check_id(H5Fopen(source_path.c_str(), H5F_ACC_RDONLY, serial_access().id()),
                              "opening HDF5 file '" + source_path + "'"));
  }

  /// Compress task `task` (of `job`) into `message`; meanwhile, read the rows of `next` (the
  /// task this rank compresses next, if any) in the background.
  void run(const DatasetJob& job, uint64_t task, Bytes& message, const DatasetJob* next_job, uint64_t next) {
    if (job.path != open_path_) {
      dataset_ = Handle(check_id(H5Dopen2(source_.id(), job.path.c_str(), H5P_DEFAULT),
                                 "opening dataset '" + job.path + "'"));
      type_ = Handle(check_id(H5Dget_type(dataset_.id()), "reading the type of '" + job.path + "'"));
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

  static std::pair<uint64_t, uint64_t> rows_of(const DatasetJob& job, uint64_t task) {
    const uint64_t row0 = (task - job.first_task) * job.chunk_rows_per_task * job.chunk[0];
    return {row0, std::min(job.dims[0], row0 + job.chunk_rows_per_task * job.chunk[0])};
  }

  /// The file address of a dataset's data when it is contiguous (as dwipack writes them: its rows
  /// are then a byte range of the file), else HADDR_UNDEF. Main thread only (HDF5).
  haddr_t address_of(const std::string& path) {
    const auto it = addresses_.find(path);
    if (it != addresses_.end()) return it->second;
    Handle dataset(
        check_id(H5Dopen2(source_.id(), path.c_str(), H5P_DEFAULT), "opening dataset '" + path + "'"));
    const haddr_t address = H5Dget_offset(dataset.id());
    H5Eclear2(H5E_DEFAULT);
    return addresses_[path] = address;
  }

  /// Start reading a task's rows into the free buffer, on another thread (plain reads, no HDF5).
  void prefetch(const DatasetJob& job, uint64_t task) {
    const haddr_t address = address_of(job.path);
    if (address == HADDR_UNDEF) return;
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
    if (const haddr_t address = address_of(job.path); address != HADDR_UNDEF) {
      rows_data_ =
          raw_.read(slot_, address + row0 * row_bytes_of(job), (row1 - row0) * row_bytes_of(job), job.path);
      return;
    }
    std::vector<hsize_t> start(job.dims.size(), 0), count(job.dims.begin(), job.dims.end());
    start[0] = row0;
    count[0] = row1 - row0;
    rows_.resize(count[0] * row_bytes_of(job));
    Handle file_space(check_id(H5Dget_space(dataset_.id()), "reading the dataspace of '" + job.path + "'"));
    check(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
          "selecting rows of '" + job.path + "'");
    Handle mem_space(check_id(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr),
                              "creating a dataspace"));
    check(H5Dread(dataset_.id(), type_.id(), mem_space.id(), file_space.id(), H5P_DEFAULT, rows_.data()),
          "reading '" + job.path + "'");
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

  ChunkCompressor chunk_compressor_;
  RawReader raw_;
  Handle source_, dataset_, type_;
  std::map<std::string, haddr_t> addresses_;
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
  explicit ChunkStore(hid_t file) : file_(file) {}

  void write(const DatasetJob& job, const Bytes& message) {
    if (job.path != open_path_) {
      dataset_ = Handle(
          check_id(H5Dopen2(file_, job.path.c_str(), H5P_DEFAULT), "opening dataset '" + job.path + "'"));
      open_path_ = job.path;
    }
    const size_t rank = job.dims.size();
    size_t at = 2 * sizeof(uint64_t);
    const uint64_t n_chunks = get(message, sizeof(uint64_t));
    std::vector<hsize_t> offset(rank);
    for (uint64_t c = 0; c < n_chunks; ++c) {
      const uint64_t n = get(message, at);
      at += sizeof(uint64_t);
      for (size_t i = 0; i < rank; ++i, at += sizeof(uint64_t))
        offset[i] = get(message, at);
      if (at + n > message.size()) throw Error("compressed copy: a truncated message for '" + job.path + "'");
      check(H5Dwrite_chunk(dataset_.id(), H5P_DEFAULT, 0, offset.data(), n, message.data() + at),
            "writing a compressed chunk of '" + job.path + "'");
      at += n;
      bytes_ += n;
    }
  }
  uint64_t bytes() const { return bytes_; }

  static uint64_t get(const Bytes& message, size_t at) {
    uint64_t value = 0;
    if (at + sizeof value > message.size()) throw Error("compressed copy: a truncated message");
    std::memcpy(&value, message.data() + at, sizeof value);
    return value;
  }

private:
  hid_t file_;
  Handle dataset_;
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
               MPI_Comm comm) {
  TaskCompressor compressor(from, level);
  std::vector<Bytes> messages(send_window);
  std::vector<MPI_Request> requests(send_window, MPI_REQUEST_NULL);
  Bytes final_message;
  bool final_received = false;
  uint64_t own_signal = 0;
  size_t slot = 0;
  for (uint64_t t = first; t < n_tasks; t += step) {
    if (message_waiting(0, tag_final, comm)) { // rank 0 stopped the pass
      receive_sleeping(final_message, 0, tag_final, comm);
      final_received = true;
      break;
    }
    if (const int s = interrupt::received()) {
      own_signal = static_cast<uint64_t>(s);
      break;
    }
    if (requests[slot] != MPI_REQUEST_NULL) wait_sleeping(requests[slot], "sending compressed chunks");
    const uint64_t next = t + step;
    compressor.run(job_of(jobs, t), t, messages[slot], next < n_tasks ? &job_of(jobs, next) : nullptr, next);
    check_mpi(MPI_Isend(messages[slot].data(), static_cast<int>(messages[slot].size()), MPI_BYTE, 0,
                        tag_chunks, comm, &requests[slot]),
              "MPI_Isend");
    slot = (slot + 1) % send_window;
  }
  // "done" (with this rank's signal, if it stopped because of one) after every task it sent.
  Bytes done(2 * sizeof(uint64_t));
  std::memcpy(done.data(), &done_marker, sizeof done_marker);
  std::memcpy(done.data() + sizeof(uint64_t), &own_signal, sizeof own_signal);
  MPI_Request done_request;
  check_mpi(
      MPI_Isend(done.data(), static_cast<int>(done.size()), MPI_BYTE, 0, tag_chunks, comm, &done_request),
      "MPI_Isend");
  for (auto& r : requests)
    if (r != MPI_REQUEST_NULL) wait_sleeping(r, "sending compressed chunks");
  wait_sleeping(done_request, "sending compressed chunks");
  if (!final_received) receive_sleeping(final_message, 0, tag_final, comm);
  return static_cast<int>(ChunkStore::get(final_message, 0));
}

void send_final(int size, uint64_t signal, MPI_Comm comm) {
  for (int w = 1; w < size; ++w)
    check_mpi(MPI_Send(&signal, static_cast<int>(sizeof signal), MPI_BYTE, w, tag_final, comm), "MPI_Send");
}

} // namespace

int write_compressed_copy(const std::string& from, const std::string& to, int level, MPI_Comm parent) {
  if (level < 1 || level > 9) throw Error("gzip level " + std::to_string(level) + " is not in 1..9");
  const auto t0 = std::chrono::steady_clock::now();
  const OwnComm own(parent);
  const MPI_Comm comm = own.get();
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);

  // Rank 0 creates the copy's structure; every rank learns the datasets to compress.
  Handle target;
  std::vector<DatasetJob> jobs;
  std::string jobs_text;
  if (rank == 0) {
    Handle source(check_id(H5Fopen(from.c_str(), H5F_ACC_RDONLY, serial_access().id()),
                           "opening HDF5 file '" + from + "'"));
    // A serial file with h5py's defaults (superblock 0, no creation order); only rank 0 opens it.
    target = Handle(check_id(H5Fcreate(to.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, serial_access().id()),
                             "creating HDF5 file '" + to + "'"));
    StructureCopier(level, jobs).copy_group(source.id(), target.id(), "/");
    source.close("HDF5 file '" + from + "'");
    jobs_text = nlohmann::json(jobs).dump();
  }
  if (size > 1) {
    broadcast_sleeping(jobs_text, comm);
    if (rank != 0) jobs = nlohmann::json::parse(jobs_text).get<std::vector<DatasetJob>>();
  }
  const uint64_t n_tasks = jobs.empty() ? 0 : jobs.back().first_task + jobs.back().n_tasks;

  if (rank != 0) {
    const auto workers = static_cast<uint64_t>(size - 1);
    return run_worker(jobs, n_tasks, static_cast<uint64_t>(rank - 1), workers, from, level, comm);
  }

  // Rank 0: store every task's chunks, in task order (the file's layout does not depend on the
  // number of ranks); with one rank, compress them too.
  ChunkStore store(target.id());
  Bytes message;
  std::unique_ptr<TaskCompressor> compressor;
  if (size == 1) compressor = std::make_unique<TaskCompressor>(from, level);
  uint64_t signal = 0;
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
      receive_sleeping(message, worker, tag_chunks, comm);
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
  }
  if (signal != 0) send_final(size, signal, comm); // the workers stop at their next task
  for (int w = 1; w < size; ++w)                   // every worker ends with "done", after its last task
    while (!done[static_cast<size_t>(w)]) {
      receive_sleeping(message, w, tag_chunks, comm);
      if (ChunkStore::get(message, 0) == done_marker)
        done[static_cast<size_t>(w)] = true;
      else if (signal == 0)
        throw Error("compressed copy: rank " + std::to_string(w) + " sent more tasks than expected");
    }
  if (signal != 0) {
    target = Handle(); // closed without checking: the file is removed
    std::remove(to.c_str());
    return static_cast<int>(signal);
  }
  target.close("HDF5 file '" + to + "'");
  send_final(size, 0, comm);

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  struct stat st {};
  const double file_mb = ::stat(to.c_str(), &st) == 0 ? static_cast<double>(st.st_size) / 1e6 : -1.0;
  uint64_t data_bytes = 0;
  for (const auto& job : jobs)
    data_bytes += job.dims[0] * row_bytes_of(job);
  char text[256];
  std::snprintf(
      text, sizeof text,
      "compressed copy (shuffle + gzip level %d, %d rank(s)): %.1f MB of data in %.1f MB of chunks, "
      "file %.1f MB, in %.2f s",
      level, size, static_cast<double>(data_bytes) / 1e6, static_cast<double>(store.bytes()) / 1e6, file_mb,
      seconds);
  log::info(text);
  return 0;
}

} // namespace dwipack::h5
