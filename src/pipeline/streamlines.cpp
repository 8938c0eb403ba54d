#include "dwipack/pipeline/streamlines.hpp"

#include "dwipack/error.hpp"
#include "dwipack/pipeline/plan.hpp"
#include "dwipack/process/streamline.hpp"
#include "dwipack/util/interrupt.hpp"
#include "dwipack/util/log.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

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

/// Hands full point blocks from the processing thread to the thread that writes them (the only
/// one that calls HDF5 and MPI), so that processing overlaps writing. A few blocks circulate:
/// the producer fills one while the consumer writes another.
class BlockPipe {
public:
  BlockPipe(size_t n_blocks, size_t block_floats) : blocks_(n_blocks) {
    for (auto& b : blocks_) {
      b.reserve(block_floats);
      free_.push_back(&b);
    }
  }

  /// Producer: give a full block, get an empty one (waits while all blocks are being written).
  void hand_over(std::vector<float>& full) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !free_.empty() || cancelled_; });
    if (cancelled_) throw Cancelled{};
    std::vector<float>* empty = free_.back();
    free_.pop_back();
    empty->clear();
    full.swap(*empty); // `empty` now holds the data, `full` the empty buffer
    ready_.push_back(empty);
    changed_.notify_all();
  }
  /// Producer: no more blocks (normally or after an error).
  void close(std::exception_ptr error = nullptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    error_ = error;
    changed_.notify_all();
  }
  /// Consumer: the next full block, or null when the producer has closed and all were taken.
  std::vector<float>* pop() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return !ready_.empty() || closed_; });
    if (ready_.empty()) return nullptr;
    std::vector<float>* block = ready_.front();
    ready_.pop_front();
    return block;
  }
  void recycle(std::vector<float>* block) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(block);
    changed_.notify_all();
  }
  /// Consumer: stop the producer (it throws Cancelled at its next hand-over).
  void cancel() {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_ = true;
    changed_.notify_all();
  }
  std::exception_ptr error() const { return error_; }

  struct Cancelled {};

private:
  std::vector<std::vector<float>> blocks_;
  std::vector<std::vector<float>*> free_;
  std::deque<std::vector<float>*> ready_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool closed_ = false, cancelled_ = false;
  std::exception_ptr error_;
};

/// Collects processed streamlines: counts always; when `hand_over` is set, also the points (in
/// blocks given to hand_over when full) and the per-streamline arrays.
class GroupAccumulator {
public:
  using HandOver = std::function<void(std::vector<float>& full_block)>;

  GroupAccumulator(StreamlineBuffers& b, HandOver hand_over, size_t n_dps)
      : b_(b), hand_over_(std::move(hand_over)), keep_(static_cast<bool>(hand_over_)) {
    b_.offsets.clear();
    b_.lengths.clear();
    b_.euclidean_lengths.clear();
    b_.dps.assign(n_dps, {});
    b_.block.clear();
    if (keep_) b_.block.reserve(b_.block_points * 3);
  }

  void add(const float* xyz_vox, int64_t n, float euclidean_length) {
    if (keep_) {
      b_.offsets.push_back(n_points_);
      b_.lengths.push_back(n);
      b_.euclidean_lengths.push_back(euclidean_length);
      // Append in bulk; a streamline may straddle two blocks (rows stay contiguous in the file).
      for (int64_t done = 0; done < n;) {
        const auto room = static_cast<int64_t>(b_.block_points - b_.block.size() / 3);
        const int64_t take = std::min(n - done, room);
        b_.block.insert(b_.block.end(), xyz_vox + 3 * done, xyz_vox + 3 * (done + take));
        done += take;
        if (b_.block.size() >= b_.block_points * 3) hand_over_(b_.block);
      }
    }
    n_points_ += n;
    ++n_streamlines_;
  }

  void add_dps(size_t key, const float* values, int columns) {
    if (keep_) b_.dps[key].insert(b_.dps[key].end(), values, values + columns);
  }

  /// Hand over the last, partial block; returns the counts.
  StreamlineCounts finish() {
    if (keep_ && !b_.block.empty()) hand_over_(b_.block);
    return {n_streamlines_, n_points_};
  }

private:
  StreamlineBuffers& b_;
  HandOver hand_over_;
  bool keep_;
  int64_t n_points_ = 0;
  int64_t n_streamlines_ = 0;
};

/// Read and process every file of the group into `acc`. `counting`: only counts are needed.
StreamlineCounts run_files(const StreamlineGroupPlan& plan,
                           const StreamlineOptions& options,
                           StreamlineBuffers& buffers,
                           GroupAccumulator& acc,
                           bool counting) {
  const bool keep_points = !counting;
  // dwi_ml tests the options for truthiness: --step_size 0 means no resampling.
  const bool by_step = options.step_size_mm && *options.step_size_mm != 0;
  const bool by_count = options.nb_points && *options.nb_points != 0;
  const bool by_compression = options.compress_mm && *options.compress_mm != 0;
  constexpr double max_segment_mm = 10.0; // dipy compress_streamlines' default, used by scilpy

  // RAS mm (center) -> the stored space: HEAD's vox/corner, or the 2021 --space with center origin.
  const auto store = [&](const process::StreamlineSpace& space, float* pts, int64_t m) {
    if (!plan.center_origin) {
      process::to_voxel_corner(space, pts, m);
    } else if (plan.storage_space != "rasmm") {
      process::apply_affine32(space.ras2vox, pts, m);
      if (plan.storage_space == "voxmm")
        for (int64_t i = 0; i < m; ++i)
          for (size_t d = 0; d < 3; ++d)
            pts[3 * i + static_cast<int64_t>(d)] *= plan.voxel_sizes[d];
    }
  };
  for (const auto& file : plan.files) {
    interrupt::check_interrupted();
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
          // dipy's load_tractogram refuses a file with any point outside the volume's box. A
          // counting pass with nothing to resample needs only that verdict, not the points, and
          // most streamlines are far from the border: a cheap conservative test settles them.
          const bool verdict_only =
              counting && !by_step && !by_count && !by_compression && !options.remove_invalid;
          if (verdict_only && process::surely_in_bounding_box(space, xyz, n)) {
            acc.add(nullptr, n, 0.0f);
            return;
          }
          work.assign(xyz, xyz + 3 * n);
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
          const bool need_points = keep_points || options.remove_invalid;
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
          if (counting) {
            acc.add(nullptr, m, 0.0f); // counting: lengths and final coordinates are not needed
            return;
          }
          const float length_mm = process::euclidean_length(pts, m);
          store(space, pts, m);
          acc.add(pts, m, length_mm);
          for (size_t k = 0; k < columns.size(); ++k)
            acc.add_dps(k, dps + columns[k].first, columns[k].second);
        },
        buffers.reader);
    if (n_read == 0 && counting) log::warning("file " + quoted(file.path) + " holds no streamline"); // once
  }
  return acc.finish();
}

} // namespace

StreamlineCounts process_streamline_group(const StreamlineGroupPlan& plan,
                                          const StreamlineOptions& options,
                                          StreamlineBuffers& buffers,
                                          StreamlineSink* sink) {
  if (!sink) {
    GroupAccumulator acc(buffers, nullptr, plan.dps.size());
    return run_files(plan, options, buffers, acc, true);
  }
  // Writing: a processing thread (file reading and pure computation only) feeds point blocks to
  // this thread, which alone calls HDF5 and MPI, so that the processing overlaps the writes.
  BlockPipe pipe(3, buffers.block_points * 3);
  StreamlineCounts counts;
  std::thread producer([&] {
    try {
      GroupAccumulator acc(
          buffers, [&](std::vector<float>& full) { pipe.hand_over(full); }, plan.dps.size());
      counts = run_files(plan, options, buffers, acc, false);
      pipe.close();
    } catch (...) {
      pipe.close(std::current_exception());
    }
  });
  try {
    int64_t row0 = 0;
    while (std::vector<float>* block = pipe.pop()) {
      const auto rows = static_cast<int64_t>(block->size() / 3);
      interrupt::check_interrupted(); // every block (24 MiB): a prompt stop on SIGTERM
      sink->points(row0, block->data(), rows);
      row0 += rows;
      pipe.recycle(block);
    }
  } catch (...) {
    pipe.cancel();
    producer.join();
    throw;
  }
  producer.join();
  if (pipe.error()) std::rethrow_exception(pipe.error());
  sink->streamline_arrays(buffers.offsets, buffers.lengths, buffers.euclidean_lengths, buffers.dps);
  return counts;
}

} // namespace dwipack::pipeline
