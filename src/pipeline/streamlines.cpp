#include "dwipack/pipeline/streamlines.hpp"

#include "dwipack/error.hpp"
#include "dwipack/pipeline/plan.hpp"
#include "dwipack/process/streamline.hpp"
#include "dwipack/util/log.hpp"

#include <algorithm>
#include <cstring>

namespace dwipack::pipeline {
namespace {

/// Column offsets of the requested dps keys inside a file's property row.
std::vector<std::pair<int, int>> dps_columns(const io::TractogramHeader& h,
                                             const std::vector<io::DpsKey>& wanted) {
  std::vector<std::pair<int, int>> out; // (first column, columns)
  for (const auto& key : wanted) {
    int first = 0;
    bool found = false;
    for (const auto& k : h.dps_keys) {
      if (k.name == key.name) {
        found = true;
        break;
      }
      first += k.columns;
    }
    if (!found)
      throw Error("file " + quoted(h.path) + ": data_per_streamline key " + quoted(key.name) + " not found");
    out.emplace_back(first, key.columns);
  }
  return out;
}

/// Collects processed streamlines and hands the points to the sink in blocks.
class GroupAccumulator {
public:
  GroupAccumulator(StreamlineBuffers& b, StreamlineSink* sink, size_t n_dps) : b_(b), sink_(sink) {
    b_.offsets.clear();
    b_.lengths.clear();
    b_.euclidean_lengths.clear();
    b_.dps.assign(n_dps, {});
    b_.block.clear();
    if (sink_) b_.block.reserve(b_.block_points * 3);
  }

  void add(const float* xyz_vox, int64_t n, float euclidean_length) {
    if (sink_) {
      b_.offsets.push_back(n_points_);
      b_.lengths.push_back(n);
      b_.euclidean_lengths.push_back(euclidean_length);
      // Append in bulk; a streamline may straddle two blocks (rows stay contiguous in the file).
      for (int64_t done = 0; done < n;) {
        const auto room = static_cast<int64_t>(b_.block_points - b_.block.size() / 3);
        const int64_t take = std::min(n - done, room);
        b_.block.insert(b_.block.end(), xyz_vox + 3 * done, xyz_vox + 3 * (done + take));
        done += take;
        if (b_.block.size() >= b_.block_points * 3) flush();
      }
    }
    n_points_ += n;
    ++n_streamlines_;
  }

  void add_dps(size_t key, const float* values, int columns) {
    if (sink_) b_.dps[key].insert(b_.dps[key].end(), values, values + columns);
  }

  StreamlineCounts finish() {
    if (sink_) {
      flush();
      sink_->streamline_arrays(b_.offsets, b_.lengths, b_.euclidean_lengths, b_.dps);
    }
    return {n_streamlines_, n_points_};
  }

private:
  void flush() {
    const auto rows = static_cast<int64_t>(b_.block.size() / 3);
    if (rows == 0) return;
    sink_->points(flushed_rows_, b_.block.data(), rows);
    flushed_rows_ += rows;
    b_.block.clear();
  }

  StreamlineBuffers& b_;
  StreamlineSink* sink_;
  int64_t n_points_ = 0;
  int64_t n_streamlines_ = 0;
  int64_t flushed_rows_ = 0;
};

} // namespace

StreamlineCounts process_streamline_group(const StreamlineGroupPlan& plan,
                                          const StreamlineOptions& options,
                                          StreamlineBuffers& buffers,
                                          StreamlineSink* sink) {
  GroupAccumulator acc(buffers, sink, plan.dps.size());
  // dwi_ml tests the options for truthiness: --step_size 0 means no resampling.
  const bool by_step = options.step_size_mm && *options.step_size_mm != 0;
  const bool by_count = options.nb_points && *options.nb_points != 0;
  const bool by_compression = options.compress_mm && *options.compress_mm != 0;
  constexpr double max_segment_mm = 10.0; // dipy compress_streamlines' default, used by scilpy

  for (const auto& file : plan.files) {
    const io::TractogramHeader header = io::read_tractogram_header(file.path);
    const process::StreamlineSpace space = process::make_space(file.vox2ras, file.dimensions);
    const auto columns = dps_columns(header, plan.dps);
    auto& work = buffers.work;
    auto& out = buffers.resampled;

    const int64_t n_read = io::read_streamlines(
        header,
        [&](int64_t index, const float* xyz, int64_t n, const float* dps) {
          const auto where = [&] {
            return "file " + quoted(file.path) + ": streamline " + std::to_string(index);
          };
          work.assign(xyz, xyz + 3 * n);
          // dipy's load_tractogram refuses a file with any point outside the volume's box. A
          // counting pass with nothing to resample needs only that verdict, not the points.
          const bool verdict_only =
              !sink && !by_step && !by_count && !by_compression && !options.remove_invalid;
          if (verdict_only ? !process::in_bounding_box(space, work.data(), n)
                           : !process::load_round_trip(space, work.data(), n))
            throw Error(where() + " has points outside the bounding box of its space (dimensions " +
                        std::to_string(file.dimensions[0]) + "x" + std::to_string(file.dimensions[1]) + "x" +
                        std::to_string(file.dimensions[2]) + "); dipy refuses to load such a file");

          if (verdict_only) {
            acc.add(nullptr, n, 0.0f);
            return;
          }
          float* pts = work.data();
          int64_t m = n;
          if (by_step) {
            m = process::step_size_point_count(work.data(), n, *options.step_size_mm);
            if (m == 0)
              throw Error(where() + " cannot be resampled with --step_size: it has " + std::to_string(n) +
                          " point(s) and length " + std::to_string(process::length_double(work.data(), n)) +
                          " mm");
          } else if (by_count) {
            m = *options.nb_points;
            if (n < 2)
              throw Error(where() + " cannot be resampled with --nb_points: it has " + std::to_string(n) +
                          " point(s)");
          }
          // While counting, the new points matter only if --remove_invalid must test them.
          const bool need_points = sink || options.remove_invalid;
          if ((by_step || by_count) && !need_points) {
            acc.add(nullptr, m, 0.0f);
            return;
          }
          if (by_step || by_count) {
            out.resize(static_cast<size_t>(3 * m));
            process::set_number_of_points(work.data(), n, out.data(), m);
            pts = out.data();
          } else if (by_compression) {
            m = process::compress_streamline(work.data(), n, *options.compress_mm, max_segment_mm,
                                             buffers.kept);
            out.resize(static_cast<size_t>(3 * m));
            for (int64_t i = 0; i < m; ++i)
              std::memcpy(out.data() + 3 * i, work.data() + 3 * buffers.kept[static_cast<size_t>(i)], 12);
            pts = out.data();
          }
          if (options.remove_invalid && !process::remove_invalid_round_trip(space, pts, m)) return;
          if (!sink) {
            acc.add(nullptr, m, 0.0f); // counting: lengths and final coordinates are not needed
            return;
          }
          const float length_mm = process::euclidean_length(pts, m);
          process::to_voxel_corner(space, pts, m);
          acc.add(pts, m, length_mm);
          for (size_t k = 0; k < columns.size(); ++k)
            acc.add_dps(k, dps + columns[k].first, columns[k].second);
        },
        buffers.reader);
    if (n_read == 0 && !sink)
      log::warning("file " + quoted(file.path) + " holds no streamline"); // once: at planning
  }
  return acc.finish();
}

} // namespace dwipack::pipeline
