#include "dwipack/h5/file.hpp"

#include "dwipack/error.hpp"

#include <algorithm>
#include <sys/statvfs.h>
#include <type_traits>

namespace dwipack::h5 {

// Direct writes copy memory bytes to the file, whose types are little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "dwipack's file types are little-endian");

namespace {

bool is_ascii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

/// A creation property list made once per process: the layout creates tens of thousands of
/// objects with the same few lists, and making, filling and freeing one per object was a fifth
/// of the layout's time (HDF5 keeps properties in skip lists of hashed names).
template <class Make> hid_t made_once(Make&& make) {
  static_assert(std::is_invocable_r_v<Handle, Make>);
  return make().release();
}

/// Link creation properties: HDF5's default encodes names as ASCII, as h5py does for ASCII
/// names; others are UTF-8 (as h5py).
hid_t link_plist(const std::string& name) {
  if (is_ascii(name)) return H5P_DEFAULT;
  static const hid_t utf8 = made_once([] {
    Handle lcpl(check_id(H5Pcreate(H5P_LINK_CREATE), "creating a link property list"));
    check(H5Pset_char_encoding(lcpl.id(), H5T_CSET_UTF8), "setting a link name encoding");
    return lcpl;
  });
  return utf8;
}

/// Attribute creation properties: the name's encoding, as for links.
hid_t attribute_plist(const std::string& name) {
  if (is_ascii(name)) return H5P_DEFAULT;
  static const hid_t utf8 = made_once([] {
    Handle acpl(check_id(H5Pcreate(H5P_ATTRIBUTE_CREATE), "creating an attribute property list"));
    check(H5Pset_char_encoding(acpl.id(), H5T_CSET_UTF8), "setting an attribute name encoding");
    return acpl;
  });
  return utf8;
}

Handle vlen_utf8_type() {
  Handle t(check_id(H5Tcopy(H5T_C_S1), "creating a string type"));
  check(H5Tset_size(t.id(), H5T_VARIABLE), "making a variable-length string type");
  check(H5Tset_cset(t.id(), H5T_CSET_UTF8), "setting a string type to UTF-8");
  check(H5Tset_strpad(t.id(), H5T_STR_NULLTERM), "setting a string padding");
  return t;
}

Handle dataspace(const std::vector<uint64_t>& dims) {
  if (dims.empty()) return Handle(check_id(H5Screate(H5S_SCALAR), "creating a scalar dataspace"));
  std::vector<hsize_t> d(dims.begin(), dims.end());
  return Handle(
      check_id(H5Screate_simple(static_cast<int>(d.size()), d.data(), nullptr), "creating a dataspace"));
}

std::string object_name(hid_t obj) {
  char buf[512];
  const ssize_t n = H5Iget_name(obj, buf, sizeof buf);
  if (n <= 0) return "?";
  return std::string(buf, static_cast<size_t>(std::min<ssize_t>(n, sizeof buf - 1)));
}

/// The name of the file an object lives in.
std::string file_name_of(hid_t obj) {
  char buf[4096];
  const ssize_t n = H5Fget_name(obj, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(std::min<ssize_t>(n, sizeof buf - 1))) : "";
}

/// A full file system shows in HDF5's error stack only as "file write failed" (MPI-IO drops
/// errno): say so plainly when the file's file system lacks the room for `needed_bytes`.
std::string full_disk_hint(const std::string& file, uint64_t needed_bytes) {
  const auto slash = file.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : file.substr(0, slash);
  struct statvfs st {};
  if (file.empty() || ::statvfs(dir.c_str(), &st) != 0) return "";
  const uint64_t free_bytes = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  if (free_bytes >= needed_bytes + (uint64_t{1} << 20)) return "";
  return " (No space left on device: " + std::to_string(free_bytes) + " bytes free in '" + dir + "')";
}

int communicator_size(MPI_Comm comm) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  return size;
}

/// File access properties of a parallel file (identical on every rank, as HDF5 requires), or of
/// a serial one (comm == MPI_COMM_NULL: the POSIX driver).
Handle file_access(MPI_Comm comm) {
  Handle fapl(check_id(H5Pcreate(H5P_FILE_ACCESS), "creating a file access property list"));
  if (comm == MPI_COMM_NULL) {
    check(H5Pset_fapl_sec2(fapl.id()), "selecting the POSIX driver");
    // HDF5's own lock (the MPI-IO driver takes none) where the file system has locks; on one
    // mounted without flock (some Lustre sites) it would refuse the file: go on without it there.
    check(H5Pset_file_locking(fapl.id(), true, true), "setting file locking");
  } else {
    check(H5Pset_fapl_mpio(fapl.id(), comm, MPI_INFO_NULL), "selecting the MPI-IO driver");
    // Metadata is written collectively at flush/close: fewer, larger writes (identical on all ranks).
    check(H5Pset_coll_metadata_write(fapl.id(), true), "enabling collective metadata writes");
  }
  // The metadata cache counts an entry at its size on disk (a few hundred bytes per object
  // header) but holds it decoded, about ten times larger: with HDF5's default bound (32 MB of
  // entries) a layout of 60,000 objects stayed whole in memory, ~3 kB per object on every rank.
  // A bound of 2 MB keeps it near 20 MB; the layout is made in file order, so little is read
  // twice (the layout took the same time with 1, 2 and 4 MB; larger thresholds of dirty bytes
  // between HDF5's collective flushes made it slower: the default, 256 KiB, is kept).
  H5AC_cache_config_t mdc{};
  mdc.version = H5AC__CURR_CACHE_CONFIG_VERSION;
  check(H5Pget_mdc_config(fapl.id(), &mdc), "reading the metadata cache configuration");
  const size_t bound = size_t{2} << 20;
  mdc.set_initial_size = true;
  mdc.initial_size = std::min(mdc.initial_size, bound);
  mdc.max_size = bound;
  mdc.min_size = std::min(mdc.min_size, mdc.initial_size);
  check(H5Pset_mdc_config(fapl.id(), &mdc), "configuring the metadata cache");
  return fapl;
}

} // namespace

File File::create_parallel(const std::string& path, MPI_Comm comm, bool dense_attributes) {
  Handle fapl = file_access(comm);
  // An attribute over 64 KiB (a list of more than ~4,000 subjects) needs dense attribute storage,
  // which needs version-2 object headers: the 1.8 format, as low and as high bound, so that any
  // HDF5 from 1.8 on (and every h5py) reads the file. Only then: h5py's own files have bounds
  // (earliest, latest), i.e. superblock 0, and most cohorts keep exactly that.
  if (dense_attributes)
    check(H5Pset_libver_bounds(fapl.id(), H5F_LIBVER_V18, H5F_LIBVER_V18), "setting the file format bounds");
  Handle fcpl(check_id(H5Pcreate(H5P_FILE_CREATE), "creating a file creation property list"));
  // h5py's defaults: no creation-order tracking, so readers iterate children in name order.
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.id(), fapl.id());
  return File(Handle(check_id(id, "creating HDF5 file '" + path + "'")), path, comm);
}

File File::create_serial(const std::string& path, bool dense_attributes) {
  return create_parallel(path, MPI_COMM_NULL, dense_attributes);
}

File File::open_parallel(const std::string& path, MPI_Comm comm) {
  Handle fapl = file_access(comm);
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.id());
  return File(Handle(check_id(id, "opening HDF5 file '" + path + "' for writing")), path, comm);
}

File::File(Handle h, std::string path, MPI_Comm comm)
    : handle_(std::move(h)), path_(std::move(path)), parallel_(comm != MPI_COMM_NULL), comm_(comm),
      ranks_(parallel_ ? communicator_size(comm) : 1) {}

void File::reopen() {
  if (!parallel_) return;
  close();
  Handle fapl = file_access(comm_);
  handle_ = Handle(check_id(H5Fopen(path_.c_str(), H5F_ACC_RDWR, fapl.id()),
                            "opening HDF5 file '" + path_ + "' again for writing"));
}

bool File::dense_attributes() const {
  H5F_info2_t info{};
  check(H5Fget_info2(handle_.id(), &info), "reading the superblock of '" + path_ + "'");
  return info.super.version >= 2;
}

bool File::enable_direct_writes() {
  direct_ = DirectWriter::open(path_);
  return direct_ != nullptr;
}

void File::flush() const {
  const herr_t status = H5Fflush(handle_.id(), H5F_SCOPE_GLOBAL);
  check(status, "flushing HDF5 file '" + path_ + "'" + (status < 0 ? full_disk_hint(path_, 64 << 20) : ""));
}

File File::open_read(const std::string& path) {
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  return File(Handle(check_id(id, "opening HDF5 file '" + path + "'")), path);
}

File::~File() {
  if (parallel_) handle_.release(); // never a collective call here (see file.hpp)
}

void File::close() {
  try {
    handle_.close("HDF5 file '" + path_ + "'");
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + full_disk_hint(path_, 64 << 20));
  }
}

Handle create_group(hid_t parent, const std::string& name, const std::string& where) {
  static const hid_t gcpl = made_once([] {
    Handle p(check_id(H5Pcreate(H5P_GROUP_CREATE), "creating a group property list"));
    check(H5Pset_obj_track_times(p.id(), false), "disabling group timestamps");
    return p;
  });
  return Handle(check_id(H5Gcreate2(parent, name.c_str(), link_plist(name), gcpl, H5P_DEFAULT),
                         "creating group '" + where + "'"));
}

Handle create_dataset(hid_t parent,
                      const std::string& name,
                      hid_t file_type,
                      const std::vector<uint64_t>& dims,
                      const std::string& where) {
  static const hid_t dcpl = made_once([] {
    Handle p(check_id(H5Pcreate(H5P_DATASET_CREATE), "creating a dataset property list"));
    check(H5Pset_layout(p.id(), H5D_CONTIGUOUS), "setting a contiguous layout");
    check(H5Pset_obj_track_times(p.id(), false), "disabling dataset timestamps");
    // Parallel HDF5 allocates contiguous space at creation; never write fill values into it
    // (that would be a second full write of every volume).
    check(H5Pset_fill_time(p.id(), H5D_FILL_TIME_NEVER), "disabling fill values");
    // A serial file (the layout built by one rank) allocates it at creation too: the dataset's
    // place in the file is then known to every rank before any data is written.
    check(H5Pset_alloc_time(p.id(), H5D_ALLOC_TIME_EARLY), "allocating space at creation");
    return p;
  });
  Handle space = dataspace(dims);
  return Handle(
      check_id(H5Dcreate2(parent, name.c_str(), file_type, space.id(), link_plist(name), dcpl, H5P_DEFAULT),
               "creating dataset '" + where + "'"));
}

std::optional<std::pair<uint64_t, uint64_t>>
direct_range(hid_t dataset, hid_t mem_type, uint64_t row0, uint64_t nrows, const std::string& where) {
  // The dataset's bytes are one range of the file (C order, little-endian like this machine).
  const haddr_t base = H5Dget_offset(dataset);
  Handle file_type(check_id(H5Dget_type(dataset), "getting the type of '" + where + "'"));
  if (base == HADDR_UNDEF || H5Tget_size(file_type.id()) != H5Tget_size(mem_type)) return std::nullopt;
  const std::vector<uint64_t> dims = dataset_dims(dataset, where);
  uint64_t row_bytes = H5Tget_size(mem_type);
  for (size_t i = 1; i < dims.size(); ++i)
    row_bytes *= dims[i];
  if (dims.empty() || row0 + nrows > dims[0]) throw Error("writing '" + where + "': rows out of range");
  return std::make_pair(base + row0 * row_bytes, nrows * row_bytes);
}

void write_rows(hid_t dataset,
                hid_t mem_type,
                const void* data,
                uint64_t row0,
                uint64_t nrows,
                const std::string& where,
                Crc32* crc,
                DirectWriter* direct) {
  if (direct) {
    if (const auto range = direct_range(dataset, mem_type, row0, nrows, where)) {
      direct->write(data, range->second, range->first, where);
      if (crc) crc->update(data, range->second);
      return;
    }
  }
  Handle file_space(check_id(H5Dget_space(dataset), "getting the dataspace of '" + where + "'"));
  const int rank = H5Sget_simple_extent_ndims(file_space.id());
  if (rank < 1) throw Error("writing '" + where + "': dataset has no rows");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(file_space.id(), dims.data(), nullptr);
  hsize_t row_elems = 1;
  for (int i = 1; i < rank; ++i)
    row_elems *= dims[static_cast<size_t>(i)];
  const size_t elem_size = H5Tget_size(mem_type);
  const hsize_t row_bytes = std::max<hsize_t>(1, row_elems * elem_size);
  const hsize_t max_piece_bytes = hsize_t{1} << 30;
  const hsize_t rows_per_piece = std::max<hsize_t>(1, max_piece_bytes / row_bytes);

  const auto* bytes = static_cast<const unsigned char*>(data);
  for (hsize_t done = 0; done < nrows;) {
    const hsize_t n = std::min<hsize_t>(rows_per_piece, nrows - done);
    std::vector<hsize_t> start(static_cast<size_t>(rank), 0), count(dims);
    start[0] = row0 + done;
    count[0] = n;
    check(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
          "selecting rows of '" + where + "'");
    Handle mem_space = dataspace(std::vector<uint64_t>(count.begin(), count.end()));
    const herr_t status =
        H5Dwrite(dataset, mem_type, mem_space.id(), file_space.id(), H5P_DEFAULT, bytes + done * row_bytes);
    check(status, "writing '" + where + "'" +
                      (status < 0 ? full_disk_hint(file_name_of(dataset), n * row_bytes) : ""));
    if (crc) crc->update(bytes + done * row_bytes, static_cast<size_t>(n * row_elems * elem_size));
    done += n;
  }
}

std::optional<uint64_t> dataset_offset(hid_t dataset) {
  const haddr_t base = H5Dget_offset(dataset);
  if (base == HADDR_UNDEF) return std::nullopt;
  return static_cast<uint64_t>(base);
}

size_t page_phase(hid_t dataset) {
  const haddr_t base = H5Dget_offset(dataset);
  return base == HADDR_UNDEF ? 0 : static_cast<size_t>(base % 4096);
}

Crc32 read_crc(hid_t dataset, hid_t mem_type, const std::string& where) {
  const std::vector<uint64_t> dims = dataset_dims(dataset, where);
  Crc32 crc;
  if (dims.empty()) return crc;
  uint64_t row_elems = 1;
  for (size_t i = 1; i < dims.size(); ++i)
    row_elems *= dims[i];
  const size_t row_bytes = std::max<size_t>(1, row_elems * H5Tget_size(mem_type));
  const uint64_t rows_per_piece = std::max<uint64_t>(1, (uint64_t{64} << 20) / row_bytes);
  std::vector<unsigned char> buffer;
  Handle file_space(check_id(H5Dget_space(dataset), "getting the dataspace of '" + where + "'"));
  for (uint64_t done = 0; done < dims[0];) {
    const uint64_t n = std::min(rows_per_piece, dims[0] - done);
    std::vector<hsize_t> start(dims.size(), 0), count(dims.begin(), dims.end());
    start[0] = done;
    count[0] = n;
    check(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
          "selecting rows of '" + where + "'");
    Handle mem_space = dataspace(std::vector<uint64_t>(count.begin(), count.end()));
    buffer.resize(n * row_bytes);
    check(H5Dread(dataset, mem_type, mem_space.id(), file_space.id(), H5P_DEFAULT, buffer.data()),
          "reading '" + where + "'");
    crc.update(buffer.data(), buffer.size());
    done += n;
  }
  return crc;
}

Handle open_dataset(hid_t parent, const std::string& path) {
  return Handle(check_id(H5Dopen2(parent, path.c_str(), H5P_DEFAULT), "opening dataset '" + path + "'"));
}

std::vector<uint64_t> dataset_dims(hid_t dataset, const std::string& where) {
  Handle space(check_id(H5Dget_space(dataset), "getting the dataspace of '" + where + "'"));
  const int rank = H5Sget_simple_extent_ndims(space.id());
  if (rank < 0) throw Error("'" + where + "': cannot read its shape");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

void delete_link(hid_t parent, const std::string& name) {
  check(H5Ldelete(parent, name.c_str(), H5P_DEFAULT), "removing '" + name + "'");
}

void write_attr_numbers(hid_t obj,
                        const std::string& name,
                        hid_t file_type,
                        hid_t mem_type,
                        const std::vector<uint64_t>& dims,
                        const void* data) {
  // The object's name only for a message: H5Iget_name walks the file's paths.
  const auto where = [&] { return "attribute '" + name + "' of '" + object_name(obj) + "'"; };
  const htri_t exists = H5Aexists(obj, name.c_str());
  if (exists < 0) check(exists, "looking for " + where());
  if (exists > 0) check(H5Adelete(obj, name.c_str()), "replacing " + where());
  Handle space = dataspace(dims);
  const hid_t id = H5Acreate2(obj, name.c_str(), file_type, space.id(), attribute_plist(name), H5P_DEFAULT);
  Handle attr(id < 0 ? check_id(id, "creating " + where()) : id);
  if (const herr_t status = H5Awrite(attr.id(), mem_type, data); status < 0)
    check(status, "writing " + where());
  if (const herr_t status = H5Aclose(attr.release()); status < 0) check(status, where());
}

void write_attr_string(hid_t obj, const std::string& name, const std::string& value) {
  Handle t = vlen_utf8_type();
  const char* p = value.c_str();
  write_attr_numbers(obj, name, t.id(), t.id(), {}, &p);
}

void write_attr_strings(hid_t obj, const std::string& name, const std::vector<std::string>& values) {
  if (values.empty()) {
    const double unused = 0; // HDF5 refuses a null buffer even for zero elements
    write_attr_numbers(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {0}, &unused);
    return;
  }
  Handle t = vlen_utf8_type();
  std::vector<const char*> ptrs;
  ptrs.reserve(values.size());
  for (const auto& v : values)
    ptrs.push_back(v.c_str());
  write_attr_numbers(obj, name, t.id(), t.id(), {values.size()}, ptrs.data());
}

void write_attr_f64(hid_t obj,
                    const std::string& name,
                    const std::vector<double>& v,
                    const std::vector<uint64_t>& dims) {
  write_attr_numbers(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dims, v.data());
}
void write_attr_f32(hid_t obj,
                    const std::string& name,
                    const std::vector<float>& v,
                    const std::vector<uint64_t>& dims) {
  write_attr_numbers(obj, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, dims, v.data());
}
void write_attr_i64(hid_t obj,
                    const std::string& name,
                    const std::vector<int64_t>& v,
                    const std::vector<uint64_t>& dims) {
  write_attr_numbers(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, dims, v.data());
}
void write_attr_i16(hid_t obj,
                    const std::string& name,
                    const std::vector<int16_t>& v,
                    const std::vector<uint64_t>& dims) {
  write_attr_numbers(obj, name, H5T_STD_I16LE, H5T_NATIVE_INT16, dims, v.data());
}
void write_attr_f64(hid_t obj, const std::string& name, double value) {
  write_attr_numbers(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {}, &value);
}
void write_attr_i64(hid_t obj, const std::string& name, int64_t value) {
  write_attr_numbers(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, {}, &value);
}

} // namespace dwipack::h5
