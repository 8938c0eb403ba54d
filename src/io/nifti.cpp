#include "dwipack/io/nifti.hpp"

#include "dwipack/error.hpp"
#include "dwipack/io/files.hpp"
#include "dwipack/process/convert.hpp"
#include "dwipack/util/gzip.hpp"
#include "dwipack/util/handoff.hpp"
#include "posix_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nifti2_io.h>

namespace dwipack::io {

namespace {

using detail::errno_text;
using detail::open_for_reading;
using detail::pread_full;
using detail::read_full;

/// Grow-only resize: scratch buffers keep their pages across files.
void ensure_size(std::vector<unsigned char>& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// ---- the header, via nifticlib ----------------------------------------------------------------

/// nifti_read_header returns malloc'ed memory (nifti_1_header or nifti_2_header).
struct MallocDeleter {
  void operator()(void* p) const { std::free(p); }
};
using RawHeaderPtr = std::unique_ptr<void, MallocDeleter>;

/// The header fields dwipack uses, widened to one representation for NIfTI-1 and NIfTI-2.
struct RawFields {
  std::array<int64_t, 8> dim{};
  int datatype = 0;
  std::array<double, 8> pixdim{};
  double vox_offset = 0;
  double scl_slope = 0, scl_inter = 0;
  int qform_code = 0, sform_code = 0;
  double quatern_b = 0, quatern_c = 0, quatern_d = 0;
  double qoffset[3] = {0, 0, 0};
  double srow[3][4] = {};
};

template <class H> RawFields widen(const H& h) {
  RawFields f;
  for (int i = 0; i < 8; ++i) {
    f.dim[static_cast<size_t>(i)] = static_cast<int64_t>(h.dim[i]);
    f.pixdim[static_cast<size_t>(i)] = static_cast<double>(h.pixdim[i]);
  }
  f.datatype = h.datatype;
  f.vox_offset = static_cast<double>(h.vox_offset);
  f.scl_slope = static_cast<double>(h.scl_slope);
  f.scl_inter = static_cast<double>(h.scl_inter);
  f.qform_code = h.qform_code;
  f.sform_code = h.sform_code;
  f.quatern_b = static_cast<double>(h.quatern_b);
  f.quatern_c = static_cast<double>(h.quatern_c);
  f.quatern_d = static_cast<double>(h.quatern_d);
  f.qoffset[0] = static_cast<double>(h.qoffset_x);
  f.qoffset[1] = static_cast<double>(h.qoffset_y);
  f.qoffset[2] = static_cast<double>(h.qoffset_z);
  for (int c = 0; c < 4; ++c) {
    f.srow[0][c] = static_cast<double>(h.srow_x[c]);
    f.srow[1][c] = static_cast<double>(h.srow_y[c]);
    f.srow[2][c] = static_cast<double>(h.srow_z[c]);
  }
  return f;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// nibabel's check_fix on load: pixdim[1..3] of 0 become 1, negative ones their absolute value;
/// a qfac (pixdim[0]) other than -1 or 1 becomes 1.
void fix_pixdims_like_nibabel(std::array<double, 8>& pixdim) {
  bool any_zero = false, any_negative = false;
  for (size_t i = 1; i <= 3; ++i) {
    any_zero = any_zero || pixdim[i] == 0;
    any_negative = any_negative || pixdim[i] < 0;
  }
  for (size_t i = 1; i <= 3; ++i) {
    if (any_zero && pixdim[i] == 0) pixdim[i] = 1;
    if (any_negative) pixdim[i] = std::fabs(pixdim[i]);
  }
  if (pixdim[0] != 1 && pixdim[0] != -1) pixdim[0] = 1;
}

/// nibabel's Nifti1Header.get_qform: quaternion -> rotation in long double (nibabel's MAX_FLOAT,
/// the same x87 80-bit type as g++'s long double on x86-64), times pixdims with qfac on z.
Affine qform_affine(const RawFields& f, int version) {
  const long double b = f.quatern_b, c = f.quatern_c, d = f.quatern_d;
  // fillpositive: w = sqrt(1 - (b² + c² + d²)); small negative w² (rounding) means w = 0
  const long double w2 = 1.0L - (((0.0L + b * b) + c * c) + d * d);
  const long double threshold = version == 1 ? -3.5762786865234375e-07L // -3 * float32 eps
                                             : -6.661338147750939e-16L; // -3 * float64 eps
  long double w = 0;
  if (w2 < 0) {
    if (w2 < threshold)
      throw Error("qform quaternion (b, c, d) = (" + number(f.quatern_b) + ", " + number(f.quatern_c) + ", " +
                  number(f.quatern_d) + ") has b²+c²+d² > 1 (nibabel: w2 should be positive, but is " +
                  number(static_cast<double>(w2)) + ")");
  } else {
    w = std::sqrt(w2);
  }
  // quat2mat
  long double r[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  const long double nq = w * w + b * b + c * c + d * d;
  if (!(nq < static_cast<long double>(std::numeric_limits<double>::epsilon()))) {
    const long double s = 2.0L / nq;
    const long double X = b * s, Y = c * s, Z = d * s;
    const long double wX = w * X, wY = w * Y, wZ = w * Z;
    const long double xX = b * X, xY = b * Y, xZ = b * Z;
    const long double yY = c * Y, yZ = c * Z, zZ = d * Z;
    const long double m[3][3] = {{1.0L - (yY + zZ), xY - wZ, xZ + wY},
                                 {xY + wZ, 1.0L - (xX + zZ), yZ - wX},
                                 {xZ - wY, yZ + wX, 1.0L - (xX + yY)}};
    std::memcpy(r, m, sizeof r);
  }
  const long double zooms[3] = {f.pixdim[1], f.pixdim[2], f.pixdim[3] * f.pixdim[0]};
  Affine a = identity_affine();
  for (int row = 0; row < 3; ++row) {
    for (int col = 0; col < 3; ++col)
      a[static_cast<size_t>(4 * row + col)] = static_cast<double>(r[row][col] * zooms[col]);
    a[static_cast<size_t>(4 * row + 3)] = f.qoffset[row];
  }
  return a;
}

/// nibabel's shape_zoom_affine(shape, zooms, x_flip=True): origin at the volume centre.
Affine fallback_affine(const RawFields& f) {
  Affine a = identity_affine();
  const double zooms[3] = {-f.pixdim[1], f.pixdim[2], f.pixdim[3]};
  for (int i = 0; i < 3; ++i) {
    const double origin = (static_cast<double>(f.dim[static_cast<size_t>(i + 1)]) - 1) / 2.0;
    a[static_cast<size_t>(5 * i)] = zooms[i];
    a[static_cast<size_t>(4 * i + 3)] = -origin * zooms[i];
  }
  return a;
}

/// nibabel resets an xform code it does not know (outside 0..5) to 0 on load.
int nibabel_xform_code(int code) {
  return code >= 0 && code <= 5 ? code : 0;
}

int64_t checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) throw Error("image size overflows 64-bit byte counts");
  return r;
}

// ---- gzip ------------------------------------------------------------------------------------

/// Streaming gzip decoder over a file descriptor (checks each member's CRC32 and ISIZE;
/// concatenated members are one stream, as gzip and Python read them).
class GzipReader {
public:
  GzipReader(int fd, std::vector<unsigned char>& input, int64_t chunk_bytes) : fd_(fd), input_(input) {
    ensure_size(input_, std::max<int64_t>(1, chunk_bytes));
    chunk_ = static_cast<size_t>(std::min<int64_t>(std::max<int64_t>(1, chunk_bytes), int64_t{1} << 30));
  }

  /// Decode up to n bytes into dst; fewer only at the end of the stream (or, with
  /// `stop_at_member_end`, of the current member). Throws on corrupt data.
  size_t read(unsigned char* dst, size_t n, bool stop_at_member_end = false) {
    size_t produced = 0;
    int idle_calls = 0;
    while (produced < n) {
      if (decoder_.member_done()) {
        if (stop_at_member_end) break;
        // another member may follow; it starts where this one's trailer ended
        if (decoder_.input_left() == 0 && !refill()) break;
        decoder_.next_member();
      }
      if (decoder_.input_left() == 0 && !input_eof_) refill();
      const size_t room = std::min<size_t>(n - produced, size_t{1} << 30);
      const size_t input_before = decoder_.input_left();
      const size_t got = decoder_.decode(dst + produced, room);
      produced += got;
      if (decoder_.member_done()) continue;
      if (got < room && decoder_.input_left() == 0 && input_eof_) {
        cut_short_ = true; // the deflate stream wants more input than the file has
        break;
      }
      const bool progress = got > 0 || decoder_.input_left() != input_before;
      idle_calls = progress ? 0 : idle_calls + 1;
      if (idle_calls > 2) throw Error("gzip decoder made no progress (corrupt stream?)");
    }
    return produced;
  }

  /// Decode (and drop) the rest of the current member so that its CRC32 and length are checked.
  void finish_member(unsigned char* sink, size_t sink_bytes) {
    while (!decoder_.member_done() && !cut_short_)
      read(sink, sink_bytes, true);
  }

  bool cut_short() const { return cut_short_; }

private:
  bool refill() {
    const size_t n = read_full(fd_, input_.data(), chunk_);
    if (n == 0) {
      input_eof_ = true;
      return false;
    }
    decoder_.feed(input_.data(), n);
    return true;
  }

  int fd_;
  std::vector<unsigned char>& input_;
  size_t chunk_ = 0;
  gzip::MemberDecoder decoder_;
  bool input_eof_ = false;
  bool cut_short_ = false;
};

/// Decode a whole .gz (output dropped); throws the decoder's error if the stream is corrupt or cut.
void check_whole_gzip(int fd) {
  std::vector<unsigned char> input, sink(1 << 16);
  GzipReader gz(fd, input, int64_t{1} << 20);
  while (gz.read(sink.data(), sink.size()) == sink.size()) {
  }
  if (gz.cut_short()) throw Error("truncated: the gzip stream is cut short");
}

std::string printable(const unsigned char* p, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && p[i] != 0; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7f) {
      out += static_cast<char>(p[i]);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", p[i]);
      out += buf;
    }
  }
  return out;
}

/// nifticlib found no NIfTI header: look at the first bytes ourselves and say what is wrong.
[[noreturn]] void throw_no_header(int fd, bool gzipped) {
  unsigned char first[540] = {};
  size_t n = 0;
  if (gzipped) {
    check_whole_gzip(fd); // zlib also fails on a small corrupt .gz whose end it reaches
    if (::lseek(fd, 0, SEEK_SET) != 0) throw Error("cannot seek: " + errno_text());
    std::vector<unsigned char> input;
    GzipReader gz(fd, input, sizeof first);
    n = gz.read(first, sizeof first);
  } else {
    n = pread_full(fd, first, sizeof first, 0);
  }
  const std::string what = gzipped ? "not a gzipped NIfTI: the decompressed data" : "not a NIfTI file: it";
  if (n < 348) throw Error(what + " is too short for a NIfTI header (" + std::to_string(n) + " bytes)");
  int32_t sizeof_hdr;
  std::memcpy(&sizeof_hdr, first, sizeof sizeof_hdr);
  const int32_t swapped = static_cast<int32_t>(__builtin_bswap32(static_cast<uint32_t>(sizeof_hdr)));
  if (sizeof_hdr == 348 || swapped == 348)
    throw Error("bad NIfTI-1 magic '" + printable(first + 344, 4) + "' (expected 'n+1')");
  if ((sizeof_hdr == 540 || swapped == 540) && n >= 540)
    throw Error("bad NIfTI-2 magic '" + printable(first + 4, 4) + "' (expected 'n+2')");
  throw Error(what + " has no NIfTI-1 or NIfTI-2 header (sizeof_hdr is " + std::to_string(sizeof_hdr) +
              ", expected 348 or 540)");
}

NiftiHeader read_header(const std::string& path) {
  NiftiHeader hdr;
  hdr.path = path;

  // dwi_ml's rule is on os.path.splitext; a .gz must further be a gzipped .nii for any reader
  const std::string ext = extension_of(path);
  if (ext != ".nii" && ext != ".gz")
    throw Error("extension " + quoted(ext) + " is not supported (accepted: '.nii', '.nii.gz')");
  hdr.gzipped = ext == ".gz";
  if (hdr.gzipped && !ends_with(path, ".nii.gz"))
    throw Error("a gzipped volume must be named '*.nii.gz' (only .nii and .nii.gz are NIfTI)");

  // Open it ourselves first: nifticlib, asked for a missing x.nii, silently reads x.nii.gz.
  UniqueFd fd = open_for_reading(path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw Error("cannot stat: " + errno_text());
  if (S_ISDIR(st.st_mode)) throw Error("is a directory, not a NIfTI file");
  if (!S_ISREG(st.st_mode)) throw Error("not a regular file");
  unsigned char magic[2] = {0, 0};
  const size_t got = pread_full(fd.get(), magic, 2, 0);
  const bool gzip_magic = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  if (hdr.gzipped && !gzip_magic) throw Error("named .gz but not gzip-compressed");
  if (!hdr.gzipped && gzip_magic) throw Error("gzip-compressed but named .nii (expected '.nii.gz')");

  nifti_set_debug_level(0); // no stderr chatter: errors are reported by us, with the file name
  int version = -1;
  RawHeaderPtr raw(nifti_read_header(path.c_str(), &version, 0));
  if (!raw || (version != 1 && version != 2)) throw_no_header(fd.get(), hdr.gzipped);
  hdr.version = version;

  // nifti_read_header does not byte-swap: the struct holds the file's bytes as they are
  RawFields f;
  int64_t min_offset = 0;
  if (version == 1) {
    auto* h = static_cast<nifti_1_header*>(raw.get());
    if (h->sizeof_hdr != 348) {
      nifti_swap_as_nifti1(h);
      hdr.byte_swapped = true;
    }
    if (h->sizeof_hdr != 348) throw Error("not a NIfTI-1 file: sizeof_hdr is not 348");
    if (std::memcmp(h->magic, "ni1\0", 4) == 0)
      throw Error(
          "NIfTI-1 header/image pair (magic 'ni1'): only single-file NIfTI (magic 'n+1') is supported");
    if (std::memcmp(h->magic, "n+1\0", 4) != 0)
      throw Error("bad NIfTI-1 magic '" + printable(reinterpret_cast<unsigned char*>(h->magic), 4) +
                  "' (expected 'n+1')");
    f = widen(*h);
    min_offset = 352;
  } else {
    auto* h = static_cast<nifti_2_header*>(raw.get());
    if (h->sizeof_hdr != 540) {
      nifti_swap_as_nifti2(h);
      hdr.byte_swapped = true;
    }
    if (h->sizeof_hdr != 540) throw Error("not a NIfTI-2 file: sizeof_hdr is not 540");
    if (std::memcmp(h->magic, "ni2\0", 4) == 0)
      throw Error(
          "NIfTI-2 header/image pair (magic 'ni2'): only single-file NIfTI (magic 'n+2') is supported");
    if (std::memcmp(h->magic, "n+2\0", 4) != 0)
      throw Error("bad NIfTI-2 magic '" + printable(reinterpret_cast<unsigned char*>(h->magic), 4) +
                  "' (expected 'n+2')");
    static const unsigned char eol[4] = {13, 10, 26, 10}, zeros[4] = {0, 0, 0, 0};
    if (std::memcmp(h->magic + 4, eol, 4) != 0 && std::memcmp(h->magic + 4, zeros, 4) != 0)
      throw Error(
          "NIfTI-2 end-of-line check bytes are wrong: the file was corrupted by a text-mode transfer");
    f = widen(*h);
    min_offset = 544;
  }

  // dimensions
  const int64_t ndim = f.dim[0];
  if (ndim != 3 && ndim != 4) {
    std::string why = ndim < 3 ? " (a " + std::to_string(ndim) + "-D image cannot be a volume group)"
                               : " (" + std::to_string(ndim) + "-D images are not supported)";
    if (ndim < 1 || ndim > 7) why = " (valid NIfTI values are 1 to 7)";
    throw Error("dim[0] is " + std::to_string(ndim) + ", expected 3 or 4" + why);
  }
  hdr.ndim = static_cast<int>(ndim);
  for (size_t i = 1; i <= static_cast<size_t>(ndim); ++i)
    if (f.dim[i] < 1)
      throw Error("dim[" + std::to_string(i) + "] is " + std::to_string(f.dim[i]) + ", expected >= 1");
  for (size_t i = 0; i < 7; ++i)
    hdr.dim[i] = f.dim[i + 1];

  // datatype
  hdr.datatype = f.datatype;
  hdr.bytes_per_voxel = process::datatype_size(f.datatype);
  if (hdr.bytes_per_voxel == 0)
    throw Error("datatype " + std::string(process::datatype_name(f.datatype)) + " (code " +
                std::to_string(f.datatype) +
                ") is not supported (supported: uint8, int8, int16, uint16, int32, uint32, int64, uint64, "
                "float32, float64)");

  // data offset: nibabel uses int(vox_offset)
  if (!std::isfinite(f.vox_offset) || f.vox_offset > 1e18)
    throw Error("vox_offset is " + number(f.vox_offset) + ", not a usable byte offset");
  if (f.vox_offset < static_cast<double>(min_offset))
    throw Error("vox_offset is " + number(f.vox_offset) + ", inside the header (a single-file NIfTI-" +
                std::to_string(version) + " needs vox_offset >= " + std::to_string(min_offset) + ")");
  hdr.vox_offset = static_cast<int64_t>(f.vox_offset);
  int64_t voxels = 1;
  for (size_t i = 0; i < static_cast<size_t>(ndim); ++i)
    voxels = checked_mul(voxels, hdr.dim[i]);
  const int64_t data_bytes = checked_mul(voxels, hdr.bytes_per_voxel);
  if (data_bytes > std::numeric_limits<int64_t>::max() - hdr.vox_offset)
    throw Error("image size overflows 64-bit byte counts");

  // scaling (throws for a valid slope with a non-finite intercept, as nibabel does)
  hdr.scl_slope = f.scl_slope;
  hdr.scl_inter = f.scl_inter;
  process::nibabel_scaling(hdr.datatype, hdr.scl_slope, hdr.scl_inter);

  // geometry, as nibabel sees it after its load-time fixes
  fix_pixdims_like_nibabel(f.pixdim);
  for (size_t i = 0; i < 3; ++i) {
    hdr.zooms[i] = version == 2 ? f.pixdim[i + 1] : static_cast<double>(static_cast<float>(f.pixdim[i + 1]));
    hdr.voxel_sizes[i] = static_cast<float>(f.pixdim[i + 1]);
  }
  hdr.qform_code = nibabel_xform_code(f.qform_code);
  hdr.sform_code = nibabel_xform_code(f.sform_code);
  if (hdr.sform_code != 0) {
    for (int row = 0; row < 3; ++row)
      for (int col = 0; col < 4; ++col)
        hdr.vox2ras[static_cast<size_t>(4 * row + col)] = f.srow[row][col];
  } else if (hdr.qform_code != 0) {
    hdr.vox2ras = qform_affine(f, version);
  } else {
    hdr.vox2ras = fallback_affine(f);
  }

  if (!hdr.gzipped && st.st_size < hdr.vox_offset + data_bytes) {
    const int64_t present = std::max<int64_t>(0, static_cast<int64_t>(st.st_size) - hdr.vox_offset);
    throw Error("truncated: " + std::to_string(data_bytes) + " bytes of voxel data expected, " +
                std::to_string(present) + " present");
  }
  return hdr;
}

// ---- the voxel data ---------------------------------------------------------------------------

std::string truncated_message(int64_t expected, int64_t got, bool cut_short) {
  return "truncated: expected " + std::to_string(expected) + " bytes of voxel data, got " +
         std::to_string(got) + (cut_short ? " (the gzip stream is cut short)" : "");
}

/// Reads the voxel data of one file in order, a block of whole frames at a time (pread for .nii,
/// the gzip decoder for .nii.gz), with the same checks and messages either way.
class FrameReader {
public:
  FrameReader(const NiftiHeader& hdr, ReadScratch& scratch)
      : hdr_(hdr), fd_(open_for_reading(hdr.path)),
        frame_bytes_(hdr.voxels_per_frame() * hdr.bytes_per_voxel) {
    if (hdr.gzipped)
      gz_.emplace(fd_.get(), scratch.compressed, scratch.chunk_bytes);
    else
      ::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_SEQUENTIAL); // a hint only: failure is harmless
  }

  /// Decode the next `count` frames into dst.
  void read(unsigned char* dst, int64_t count) {
    const int64_t data_bytes = hdr_.data_bytes();
    const int64_t done = next_frame_ * frame_bytes_;
    const int64_t want = count * frame_bytes_;
    if (!gz_) {
      const size_t got = pread_full(fd_.get(), dst, static_cast<size_t>(want), hdr_.vox_offset + done);
      if (static_cast<int64_t>(got) < want)
        throw Error(truncated_message(data_bytes, done + static_cast<int64_t>(got), false));
    } else {
      if (next_frame_ == 0) skip_header();
      const size_t got = gz_->read(dst, static_cast<size_t>(want));
      if (static_cast<int64_t>(got) < want)
        throw Error(truncated_message(data_bytes, done + static_cast<int64_t>(got), gz_->cut_short()));
    }
    next_frame_ += count;
  }

  /// After the last frame: decode and drop the member's trailing bytes (if any) so that its CRC
  /// is checked.
  void finish() {
    if (!gz_) return;
    gz_->finish_member(sink_.data(), sink_.size());
    if (gz_->cut_short())
      throw Error("truncated: the gzip stream ends before its end-of-stream marker and CRC32 "
                  "(the voxel data itself is complete)");
  }

private:
  void skip_header() {
    for (int64_t skipped = 0; skipped < hdr_.vox_offset;) {
      const auto want = static_cast<size_t>(
          std::min<int64_t>(hdr_.vox_offset - skipped, static_cast<int64_t>(sink_.size())));
      const size_t got = gz_->read(sink_.data(), want);
      if (got < want) throw Error(truncated_message(hdr_.data_bytes(), 0, gz_->cut_short()));
      skipped += static_cast<int64_t>(got);
    }
  }

  const NiftiHeader& hdr_;
  UniqueFd fd_;
  int64_t frame_bytes_;
  std::optional<GzipReader> gz_;
  std::vector<unsigned char> sink_ = std::vector<unsigned char>(64 * 1024);
  int64_t next_frame_ = 0;
};

int64_t serial_block_frames(int64_t frame_bytes, int64_t nb_frames, const ReadScratch& scratch) {
  if (scratch.block_bytes <= 0) return decode_block_frames(frame_bytes, nb_frames);
  return std::clamp<int64_t>(scratch.block_bytes / std::max<int64_t>(1, frame_bytes), 1,
                             std::max<int64_t>(1, nb_frames));
}

int64_t pipeline_slot_frames(int64_t frame_bytes, int64_t nb_frames, const ReadScratch& scratch) {
  if (scratch.pipeline_frames > 0) return scratch.pipeline_frames;
  return std::max<int64_t>(1, decode_block_frames(frame_bytes, nb_frames) / 2);
}

void read_data(const NiftiHeader& hdr, float* out, int64_t f_total, int64_t f_offset, ReadScratch& scratch) {
  const process::Scaling scaling = process::nibabel_scaling(hdr.datatype, hdr.scl_slope, hdr.scl_inter);
  const int64_t nb_frames = hdr.nb_frames();
  if (f_offset < 0 || f_offset + nb_frames > f_total)
    throw Error("features [" + std::to_string(f_offset) + ", " + std::to_string(f_offset + nb_frames) +
                ") do not fit in " + std::to_string(f_total));
  const int64_t frame_bytes = hdr.voxels_per_frame() * hdr.bytes_per_voxel;
  const int64_t nx = hdr.dim[0];
  auto convert = [&](const unsigned char* block, int64_t first_frame, int64_t count, int64_t x0, int64_t x1) {
    process::convert_frames(block, hdr.datatype, hdr.byte_swapped, scaling, hdr.shape3(), count, out, f_total,
                            f_offset + first_frame, {x0, x1});
  };
  FrameReader reader(hdr, scratch);

  const int64_t k = pipeline_slot_frames(frame_bytes, nb_frames, scratch);
  if (scratch.threads < 2 || nb_frames <= k) {
    const int64_t frames_per_block = serial_block_frames(frame_bytes, nb_frames, scratch);
    unsigned char* block = scratch.frames.get(static_cast<size_t>(frames_per_block * frame_bytes));
    for (int64_t frame = 0; frame < nb_frames; frame += frames_per_block) {
      const int64_t count = std::min(frames_per_block, nb_frames - frame);
      reader.read(block, count);
      convert(block, frame, count, 0, nx);
    }
    reader.finish();
    return;
  }

  // Pipelined: a helper thread decodes the next block into one of two slots while this thread
  // converts the previous one (the inflate is serial, so everything else has to run beside it).
  // The last block is converted by both, split along x (disjoint, contiguous parts of `out`). The
  // helper only reads the file and inflates (then converts its half); it is joined on every path
  // and its errors are rethrown here.
  const int64_t slot_bytes = k * frame_bytes;
  unsigned char* slots = scratch.frames.get(static_cast<size_t>(2 * slot_bytes));
  const int64_t nb_blocks = (nb_frames + k - 1) / k;
  const int64_t last_first = (nb_blocks - 1) * k, last_count = nb_frames - last_first;
  const int64_t x_split = nx / 2;
  struct Decoded {
    unsigned char* slot;
    int64_t block;
  };
  Handoff<unsigned char*, Decoded> pipe({slots, slots + slot_bytes});
  std::exception_ptr half_error; // of the decoder's half of the last block
  std::thread decoder([&] {
    unsigned char* last_slot = nullptr;
    try {
      for (int64_t b = 0; b < nb_blocks; ++b) {
        unsigned char* slot = pipe.take();
        reader.read(slot, std::min(k, nb_frames - b * k));
        last_slot = slot;
        pipe.give({slot, b});
      }
      reader.finish();
      pipe.close();
    } catch (...) {
      pipe.close(std::current_exception());
      return;
    }
    try {
      convert(last_slot, last_first, last_count, x_split, nx);
    } catch (...) {
      half_error = std::current_exception();
    }
  });
  pipe.drain(decoder, [&](const Decoded& d) {
    const bool last = d.block == nb_blocks - 1;
    convert(d.slot, d.block * k, std::min(k, nb_frames - d.block * k), 0, last ? x_split : nx);
    pipe.recycle(d.slot);
  });
  if (half_error) std::rethrow_exception(half_error);
}

} // namespace

int64_t decode_block_frames(int64_t frame_bytes, int64_t nb_frames) {
  constexpr int64_t budget = int64_t{64} << 20, min_frames = 16;
  const int64_t frames = std::max<int64_t>(1, nb_frames);
  if (frame_bytes <= 0 || frames * frame_bytes <= budget) return frames;
  return std::min(frames, std::max(min_frames, budget / frame_bytes));
}

int64_t decode_memory_bytes(int64_t frame_bytes, int64_t nb_frames, const ReadScratch& scratch) {
  const int64_t k = pipeline_slot_frames(frame_bytes, nb_frames, scratch);
  if (scratch.threads >= 2 && nb_frames > k) return 2 * k * frame_bytes;
  return serial_block_frames(frame_bytes, nb_frames, scratch) * frame_bytes;
}

NiftiHeader read_nifti_header(const std::string& path) {
  return with_context("file " + quoted(path), [&] { return read_header(path); });
}

void read_nifti_into(
    const NiftiHeader& hdr, float* out, int64_t f_total, int64_t f_offset, ReadScratch& scratch) {
  with_context("file " + quoted(hdr.path), [&] { read_data(hdr, out, f_total, f_offset, scratch); });
}

} // namespace dwipack::io
