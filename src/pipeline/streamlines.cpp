#include "dwipack/pipeline/streamlines.hpp"

#include "dwipack/error.hpp"
#include "dwipack/pipeline/plan.hpp"
#include "dwipack/process/streamline.hpp"
#include "dwipack/util/handoff.hpp"
#include "dwipack/util/interrupt.hpp"
#include "dwipack/util/log.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <functional>
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

/// Point blocks from the processing thread to the thread that writes them (the only one that
/// calls HDF5 and MPI), so that processing overlaps writing. A few blocks, allocated once per
/// worker (StreamlineBuffers::blocks), circulate.
struct Block {
  float* base = nullptr; ///< the page-aligned start of its storage
  float* data = nullptr; ///< the first point (base + the file's page phase)
  size_t floats = 0;     ///< used from data
};
using BlockPipe = Handoff<float*, Block>;
/// Floats of each block's storage beyond the block itself: page alignment and the page phase.
constexpr size_t block_slack_floats = 2 * 4096 / sizeof(float);

std::vector<float*> page_aligned_starts(std::vector<std::vector<float>>& storage) {
  std::vector<float*> starts;
  for (auto& b : storage) {
    const auto address = reinterpret_cast<uintptr_t>(b.data());
    starts.push_back(b.data() + (4096 - address % 4096) % 4096 / sizeof(float));
  }
  return starts;
}

/// io::read_streamlines on a thread of its own, handing batches of streamlines to the calling
/// thread, which calls `visit` on each in file order: parsing (and the kernel's copy out of the
/// page cache) overlaps the processing. Errors come out as in a single thread: the streamlines
/// read before a reader error are all visited first, then that error is thrown.
int64_t
read_ahead(const io::TractogramHeader& header, const io::StreamlineVisitor& visit, StreamlineBuffers& b) {
  constexpr size_t batches = 3;
  constexpr size_t batch_floats = size_t{1} << 18; // 1 MiB of points: stays in L2
  b.read_batches.resize(batches);
  std::vector<ReadBatch*> empty;
  for (auto& batch : b.read_batches)
    empty.push_back(&batch);
  Handoff<ReadBatch*, ReadBatch*> pipe(std::move(empty));

  std::thread reader([&] {
    ReadBatch* batch = nullptr;
    try {
      batch = pipe.take();
      batch->clear();
      io::read_streamlines(
          header,
          [&](int64_t, const float* xyz, int64_t n, const float* dps) {
            const auto floats = 3 * static_cast<size_t>(n);
            if (!batch->counts.empty() && batch->points.size() + floats > batch_floats) {
              pipe.give(batch);
              batch = pipe.take();
              batch->clear();
            }
            batch->points.insert(batch->points.end(), xyz, xyz + floats);
            batch->counts.push_back(n);
            batch->dps.insert(batch->dps.end(), dps, dps + header.n_properties);
          },
          b.reader);
      if (!batch->counts.empty()) pipe.give(batch);
      pipe.close();
    } catch (const decltype(pipe)::Cancelled&) {
      pipe.close();
    } catch (...) {
      if (batch && !batch->counts.empty()) pipe.give(batch); // what was read before the error
      pipe.close(std::current_exception());
    }
  });
  int64_t index = 0;
  pipe.drain(reader, [&](ReadBatch* batch) {
    const float* xyz = batch->points.data();
    const float* dps = batch->dps.data();
    for (const int64_t n : batch->counts) {
      visit(index++, xyz, n, dps);
      xyz += 3 * n;
      dps += header.n_properties;
    }
    pipe.recycle(batch);
  });
  return index;
}

/// Collects processed streamlines: counts always; with a pipe, also the points (written straight
/// into the pipe's blocks, handed over when full) and the per-streamline arrays.
class GroupAccumulator {
public:
  /// `page_phase`: StreamlineSink::points_page_phase().
  GroupAccumulator(StreamlineBuffers& b, BlockPipe* pipe, size_t n_dps, size_t page_phase = 0)
      : b_(b), pipe_(pipe), capacity_(b.block_points * 3), page_phase_(page_phase) {
    b_.offsets.clear();
    b_.lengths.clear();
    b_.euclidean_lengths.clear();
    b_.dps.assign(n_dps, {});
    if (pipe_) start_block(pipe_->take());
  }

  bool keeps_points() const { return pipe_ != nullptr; }

  /// Room for `n` points in the current block, handing it over first if they do not fit (rows
  /// stay contiguous in the file whatever the block sizes). Null for a streamline longer than a
  /// whole block: add() it instead.
  float* room(int64_t n) {
    const auto floats = 3 * static_cast<size_t>(n);
    if (floats > capacity_) return nullptr;
    if (used_ + floats > capacity_) next_block();
    return block_ + used_;
  }
  /// The `n` points written at room(n) are final.
  void commit(int64_t n, float euclidean_length) {
    used_ += 3 * static_cast<size_t>(n);
    record(n, euclidean_length);
    if (used_ - checked_ >= crc_stride_floats) checksum();
  }

  /// Copy a streamline in (any length: it may straddle blocks).
  void add(const float* xyz_vox, int64_t n, float euclidean_length) {
    if (pipe_) {
      for (int64_t done = 0; done < n;) {
        if (used_ == capacity_) next_block();
        const auto take = std::min(static_cast<size_t>(n - done), (capacity_ - used_) / 3);
        std::memcpy(block_ + used_, xyz_vox + 3 * done, 12 * take);
        used_ += 3 * take;
        done += static_cast<int64_t>(take);
        if (used_ - checked_ >= crc_stride_floats) checksum();
      }
    }
    record(n, euclidean_length);
  }

  /// A streamline dropped by --remove_invalid (counted for the log).
  void removed_invalid() { ++n_removed_invalid_; }

  void add_dps(size_t key, const float* values, int columns) {
    if (pipe_) b_.dps[key].insert(b_.dps[key].end(), values, values + columns);
  }

  /// Hand over the last, partial block; returns the counts.
  /// CRC-32 of every point row handed over, in row order (taken while the rows were in cache).
  const Crc32& points_crc() const { return crc_; }

  StreamlineCounts finish() {
    if (pipe_ && used_ > 0) {
      checksum();
      pipe_->give({base_, block_, used_});
    }
    return {n_streamlines_, n_points_, has_short_, n_removed_invalid_};
  }

private:
  /// The first point of a block goes where its row falls within a file page (when that phase is
  /// a whole number of floats), so that the writer can send whole pages without copying them.
  void start_block(float* base) {
    base_ = base;
    const size_t phase = (page_phase_ + 12 * static_cast<size_t>(n_points_)) % 4096;
    block_ = base + (phase % sizeof(float) == 0 ? phase / sizeof(float) : 0);
    used_ = checked_ = 0;
  }
  void next_block() {
    checksum();
    pipe_->give({base_, block_, used_});
    start_block(pipe_->take());
  }

  /// Rows written since the last call into the CRC, while they are still in cache (every 256 KiB).
  void checksum() {
    crc_.update(block_ + checked_, sizeof(float) * (used_ - checked_));
    checked_ = used_;
  }
  static constexpr size_t crc_stride_floats = size_t{1} << 16;

  void record(int64_t n, float euclidean_length) {
    if (pipe_) {
      b_.offsets.push_back(n_points_);
      b_.lengths.push_back(n);
      b_.euclidean_lengths.push_back(euclidean_length);
    }
    n_points_ += n;
    ++n_streamlines_;
    has_short_ = has_short_ || n < 2;
  }

  StreamlineBuffers& b_;
  BlockPipe* pipe_;
  size_t capacity_; ///< floats per block
  size_t page_phase_;
  float* base_ = nullptr;  ///< the current block's storage (page-aligned)
  float* block_ = nullptr; ///< its first point
  size_t used_ = 0;        ///< floats written to block_
  size_t checked_ = 0;     ///< floats of block_ already in crc_
  Crc32 crc_;
  int64_t n_points_ = 0;
  int64_t n_streamlines_ = 0;
  bool has_short_ = false;
  int64_t n_removed_invalid_ = 0;
};

/// What is done to each streamline of a group, from the options (dwi_ml tests them for
/// truthiness: --step_size 0 means no resampling).
struct Treatment {
  Treatment(const StreamlineGroupPlan& plan, const StreamlineOptions& options, bool counting_only)
      : counting(counting_only), by_step(options.step_size_mm && *options.step_size_mm != 0),
        by_count(options.nb_points && *options.nb_points != 0),
        by_compression(options.compress_mm && *options.compress_mm != 0),
        remove_invalid(options.remove_invalid),
        // Without resampling, compression or removal, into the vox/corner space: one fused pass.
        fused(!counting_only && !by_step && !by_count && !by_compression && !remove_invalid &&
              !plan.center_origin),
        // A counting pass with nothing to resample needs only dipy's bounding-box verdict.
        verdict_only(counting_only && !by_step && !by_count && !by_compression && !remove_invalid) {}
  bool counting, by_step, by_count, by_compression, remove_invalid, fused, verdict_only;
};

/// Processes the streamlines of one file of a group into the accumulator.
class FileProcessor {
public:
  FileProcessor(const StreamlineGroupPlan& plan,
                const StreamlineOptions& options,
                const Treatment& treatment,
                const TractogramFilePlan& file,
                const io::TractogramHeader& header,
                StreamlineBuffers& buffers,
                GroupAccumulator& acc)
      : plan_(plan), options_(options), t_(treatment), file_(file),
        space_(process::make_space(file.vox2ras, file.dimensions)), columns_(dps_columns(header, plan.dps)),
        buffers_(buffers), acc_(acc) {}

  void operator()(int64_t index, const float* xyz, int64_t n, const float* dps) {
    // dipy's load_tractogram refuses a file with any point outside the volume's box; most
    // streamlines are far from the border: a cheap conservative test settles them.
    if (t_.verdict_only && process::surely_in_bounding_box(space_, xyz, n)) {
      acc_.add(nullptr, n, 0.0f);
      return;
    }
    if (t_.fused) {
      fused(index, xyz, n, dps);
      return;
    }
    auto& work = buffers_.work;
    work.assign(xyz, xyz + 3 * n);
    if (t_.verdict_only ? !process::in_bounding_box(space_, work.data(), n)
                        : !process::load_round_trip(space_, work.data(), n))
      throw outside_box(index);
    if (t_.verdict_only) {
      acc_.add(nullptr, n, 0.0f);
      return;
    }
    general(index, work.data(), n, dps);
  }

private:
  std::string where(int64_t index) const {
    return "file " + quoted(file_.path) + ": streamline " + std::to_string(index);
  }

  Error outside_box(int64_t index) const {
    return Error(where(index) + " has points outside the bounding box of its space (dimensions " +
                 std::to_string(file_.dimensions[0]) + "x" + std::to_string(file_.dimensions[1]) + "x" +
                 std::to_string(file_.dimensions[2]) + "); dipy refuses to load such a file");
  }

  void add_dps(const float* dps) {
    for (size_t k = 0; k < columns_.size(); ++k)
      acc_.add_dps(k, dps + columns_[k].first, columns_[k].second);
  }

  /// The common case in one pass, straight into the block the writer thread will take.
  void fused(int64_t index, const float* xyz, int64_t n, const float* dps) {
    auto& out = buffers_.resampled;
    float* dest = acc_.room(n);
    if (!dest) {
      out.resize(static_cast<size_t>(3 * n));
      dest = out.data();
    }
    float length_mm = 0.0f;
    if (!process::convert_to_corner(space_, xyz, n, dest, length_mm, buffers_.convert))
      throw outside_box(index);
    if (dest == out.data())
      acc_.add(dest, n, length_mm);
    else
      acc_.commit(n, length_mm);
    add_dps(dps);
  }

  /// Resampling, compression, --remove_invalid, or the 2021 storage: step by step. `work` holds
  /// the streamline after dipy's load round trip (RAS mm).
  void general(int64_t index, float* work, int64_t n, const float* dps) {
    constexpr double max_segment_mm = 10.0; // dipy compress_streamlines' default, used by scilpy
    auto& out = buffers_.resampled;
    float* pts = work;
    int64_t m = n;
    if (t_.by_step) {
      m = process::step_size_point_count(work, n, *options_.step_size_mm);
      if (m == 0)
        throw Error(where(index) + " cannot be resampled with --step_size: it has " + std::to_string(n) +
                    " point(s) and length " + std::to_string(process::length_double(work, n)) + " mm");
    } else if (t_.by_count) {
      m = *options_.nb_points;
      if (n < 2)
        throw Error(where(index) + " cannot be resampled with --nb_points: it has " + std::to_string(n) +
                    " point(s)");
    }
    // While counting, the new points matter only if --remove_invalid must test them.
    if ((t_.by_step || t_.by_count) && t_.counting && !t_.remove_invalid) {
      acc_.add(nullptr, m, 0.0f);
      return;
    }
    if (t_.by_step || t_.by_count) {
      out.resize(static_cast<size_t>(3 * m));
      process::set_number_of_points(work, n, out.data(), m);
      pts = out.data();
    } else if (t_.by_compression) {
      m = process::compress_streamline(work, n, *options_.compress_mm, max_segment_mm, buffers_.kept);
      out.resize(static_cast<size_t>(3 * m));
      for (int64_t i = 0; i < m; ++i)
        std::memcpy(out.data() + 3 * i, work + 3 * buffers_.kept[static_cast<size_t>(i)], 12);
      pts = out.data();
    }
    if (t_.remove_invalid && !process::remove_invalid_round_trip(space_, pts, m)) {
      acc_.removed_invalid();
      return;
    }
    if (t_.counting) {
      acc_.add(nullptr, m, 0.0f); // counting: lengths and final coordinates are not needed
      return;
    }
    const float length_mm = process::euclidean_length(pts, m);
    store(pts, m);
    acc_.add(pts, m, length_mm);
    add_dps(dps);
  }

  /// RAS mm (center) -> the stored space: vox/corner, or the 2021 --space with center origin.
  void store(float* pts, int64_t m) const {
    if (!plan_.center_origin) {
      process::to_voxel_corner(space_, pts, m);
    } else if (plan_.storage_space != "rasmm") {
      process::apply_affine32(space_.ras2vox, pts, m);
      if (plan_.storage_space == "voxmm")
        for (int64_t i = 0; i < m; ++i)
          for (size_t d = 0; d < 3; ++d)
            pts[3 * i + static_cast<int64_t>(d)] *= static_cast<float>(plan_.voxel_sizes[d]);
    }
  }

  const StreamlineGroupPlan& plan_;
  const StreamlineOptions& options_;
  const Treatment& t_;
  const TractogramFilePlan& file_;
  const process::StreamlineSpace space_;
  const std::vector<std::pair<int, int>> columns_;
  StreamlineBuffers& buffers_;
  GroupAccumulator& acc_;
};

/// Read and process every file of the group into `acc`. `counting`: only counts are needed.
StreamlineCounts run_files(const StreamlineGroupPlan& plan,
                           const StreamlineOptions& options,
                           StreamlineBuffers& buffers,
                           GroupAccumulator& acc,
                           bool counting) {
  const Treatment treatment(plan, options, counting);
  for (const auto& file : plan.files) {
    interrupt::check_interrupted();
    const io::TractogramHeader header = io::read_tractogram_header(file.path);
    FileProcessor process(plan, options, treatment, file, header, buffers, acc);
    const io::StreamlineVisitor visit = [&](int64_t index, const float* xyz, int64_t n, const float* dps) {
      if ((index & 1023) == 0) interrupt::check_interrupted(); // resampling can be slow per block
      process(index, xyz, n, dps);
    };
    // Writing, with a core to spare: parse on a second thread. Counting (planning, on every rank
    // at once): one thread.
    const bool ahead = !counting && buffers.read_ahead && !(buffers.busy && buffers.busy->load());
    const int64_t n_read =
        ahead ? read_ahead(header, visit, buffers) : io::read_streamlines(header, visit, buffers.reader);
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
  // The blocks are allocated (and first touched) once per worker, not per group.
  buffers.blocks.resize(3);
  for (auto& b : buffers.blocks)
    b.resize(buffers.block_points * 3 + block_slack_floats);
  BlockPipe pipe(page_aligned_starts(buffers.blocks));
  const size_t page_phase = sink->points_page_phase();
  StreamlineCounts counts;
  Crc32 points_crc;
  std::thread producer([&] {
    try {
      GroupAccumulator acc(buffers, &pipe, plan.dps.size(), page_phase);
      counts = run_files(plan, options, buffers, acc, false);
      points_crc = acc.points_crc();
      pipe.close();
    } catch (...) {
      pipe.close(std::current_exception());
    }
  });
  int64_t row0 = 0;
  pipe.drain(producer, [&](const Block& block) {
    const auto rows = static_cast<int64_t>(block.floats / 3);
    interrupt::check_interrupted(); // every block (24 MiB): a prompt stop on SIGTERM
    sink->points(row0, block.data, rows);
    row0 += rows;
    pipe.recycle(block.base);
  });
  sink->points_crc(points_crc);
  sink->streamline_arrays(buffers.offsets, buffers.lengths, buffers.euclidean_lengths, buffers.dps);
  return counts;
}

} // namespace dwipack::pipeline
