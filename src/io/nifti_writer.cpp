#include "dwipack/io/nifti_writer.hpp"

#include "dwipack/error.hpp"
#include "dwipack/util/gzip.hpp"

#include <nifti1.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

namespace dwipack::io {
namespace {

int bytes_of(int datatype) {
  switch (datatype) {
  case NIFTI_TYPE_UINT8:
    return 1;
  case NIFTI_TYPE_INT16:
    return 2;
  case NIFTI_TYPE_FLOAT32:
    return 4;
  default:
    throw Error("write_nifti: unsupported datatype " + std::to_string(datatype));
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

} // namespace

void write_nifti(const std::string& path, const NiftiWriteSpec& spec, const void* data, int gzip_level) {
  const int nbyper = bytes_of(spec.datatype);
  nifti_1_header h;
  std::memset(&h, 0, sizeof h);
  h.sizeof_hdr = 348;
  h.dim[0] = static_cast<short>(spec.nb_frames > 1 || spec.force_4d ? 4 : 3);
  for (int i = 0; i < 3; ++i)
    h.dim[i + 1] = static_cast<short>(spec.shape[static_cast<size_t>(i)]);
  h.dim[4] = static_cast<short>(spec.nb_frames);
  for (int i = 5; i < 8; ++i)
    h.dim[i] = 1;
  h.datatype = static_cast<short>(spec.datatype);
  h.bitpix = static_cast<short>(8 * nbyper);
  h.pixdim[0] = 1; // qfac
  for (int i = 0; i < 3; ++i)
    h.pixdim[i + 1] = spec.voxel_sizes[static_cast<size_t>(i)];
  h.pixdim[4] = 1;
  h.vox_offset = 352;
  h.scl_slope = spec.scl_slope;
  h.scl_inter = spec.scl_inter;
  h.xyzt_units = NIFTI_UNITS_MM | NIFTI_UNITS_SEC;
  h.qform_code = 0;
  h.sform_code = NIFTI_XFORM_SCANNER_ANAT;
  for (int c = 0; c < 4; ++c) {
    h.srow_x[c] = static_cast<float>(spec.vox2ras[static_cast<size_t>(c)]);
    h.srow_y[c] = static_cast<float>(spec.vox2ras[static_cast<size_t>(4 + c)]);
    h.srow_z[c] = static_cast<float>(spec.vox2ras[static_cast<size_t>(8 + c)]);
  }
  std::strncpy(h.descrip, "dwipack", sizeof h.descrip - 1);
  std::memcpy(h.magic, "n+1\0", 4);

  const size_t data_bytes =
      static_cast<size_t>(spec.shape[0] * spec.shape[1] * spec.shape[2] * spec.nb_frames * nbyper);
  std::vector<unsigned char> file(352 + data_bytes);
  std::memcpy(file.data(), &h, sizeof h); // 348 bytes, then 4 zero bytes: no extension
  std::memcpy(file.data() + 352, data, data_bytes);

  std::unique_ptr<std::FILE, FileCloser> out(std::fopen(path.c_str(), "wb"));
  if (!out) throw Error("cannot create " + quoted(path) + ": " + std::strerror(errno));
  const unsigned char* bytes = file.data();
  size_t n = file.size();
  std::vector<unsigned char> packed;
  if (ends_with(path, ".gz")) {
    packed = gzip::Deflater(gzip_level).gzip(file.data(), file.size());
    n = packed.size();
    bytes = packed.data();
  }
  if (std::fwrite(bytes, 1, n, out.get()) != n || std::fflush(out.get()) != 0)
    throw Error("writing " + quoted(path) + ": " + std::strerror(errno));
}

void write_nifti_xyzf(const std::string& path,
                      const float* data_xyzf,
                      const std::array<int64_t, 3>& shape,
                      int64_t nb_features,
                      const Affine& vox2ras,
                      const std::array<float, 3>& voxel_sizes,
                      int gzip_level) {
  const int64_t nx = shape[0], ny = shape[1], nz = shape[2], nf = nb_features;
  std::vector<float> nifti_order(static_cast<size_t>(nx * ny * nz * nf));
  for (int64_t x = 0; x < nx; ++x)
    for (int64_t y = 0; y < ny; ++y)
      for (int64_t z = 0; z < nz; ++z) {
        const float* voxel = data_xyzf + ((x * ny + y) * nz + z) * nf;
        for (int64_t f = 0; f < nf; ++f)
          nifti_order[static_cast<size_t>(x + nx * (y + ny * (z + nz * f)))] = voxel[f];
      }
  NiftiWriteSpec spec;
  spec.shape = shape;
  spec.nb_frames = nf;
  spec.force_4d = true;
  spec.datatype = NIFTI_TYPE_FLOAT32;
  spec.vox2ras = vox2ras;
  spec.voxel_sizes = voxel_sizes;
  write_nifti(path, spec, nifti_order.data(), gzip_level);
}

} // namespace dwipack::io
