// The format tables under 1..4 ranks: create a layout collectively from a plan, write every
// subject's rows from the rank that owns it (independent I/O), close, reopen collectively for
// --resume and verify every dataset's CRC-32 against what was written; a changed checksum is
// found. Then an independent reader (h5py) checks names, shapes, HDF5 types and values against
// dwi_ml's layout written out in the Python script (not taken from the tables), for both layouts.
// Also as `dwipack create` makes it: built by rank 0 in a serial file (at once, or one subject at
// a time), its places broadcast, attached on every rank.
#include "mpi_test.hpp"

#include "dwipack/error.hpp"
#include "dwipack/format/layout.hpp"
#include "dwipack/pipeline/messages.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace format = dwipack::format;
using dwipack::Error;
using dwipack::test::SharedTempDir;
using dwipack::test::world;

namespace {

format::GroupPlan volume_group(const std::string& name, std::array<int64_t, 3> shape, int64_t features) {
  format::GroupPlan g;
  g.name = name;
  g.type = dwipack::GroupType::volume;
  g.volume.shape = shape;
  g.volume.nb_features = features;
  g.volume.voxel_sizes = {1.25f, 1.5f, 2.0f};
  g.volume.vox2ras = {1.25, 0, 0, -10, 0, 1.5, 0, 20, 0, 0, 2, 5.5, 0, 0, 0, 1};
  return g;
}

format::GroupPlan
streamline_group(const std::string& name, int64_t streamlines, int64_t points, bool connectivity) {
  format::GroupPlan g;
  g.name = name;
  g.type = dwipack::GroupType::streamlines;
  auto& s = g.streamlines;
  s.n_streamlines = streamlines;
  s.n_points = points;
  s.dimensions = {30, 40, 50};
  s.voxel_sizes = {1.25f, 1.5f, 2.0f};
  s.voxel_order = "RAS";
  s.vox2ras = {1.25, 0, 0, -10, 0, 1.5, 0, 20, 0, 0, 2, 5.5, 0, 0, 0, 1};
  s.dps = {{"weights", 1}, {"rgb", 3}};
  if (connectivity) {
    s.connectivity_matrix = "matrix.npy"; // not read here: only its shape matters to the layout
    s.connectivity_shape = {4, 4};
    s.connectivity_nb_blocs = {2, 2, 1};
  }
  return g;
}

format::Plan make_plan(format::Kind kind) {
  format::Plan plan;
  plan.kind = kind;
  for (int i = 0; i < 5; ++i) {
    format::SubjectPlan subject;
    subject.id = "sub-" + std::to_string(i);
    subject.groups.push_back(volume_group("dwi", {3, 4, 5 + i}, 2 + i));
    subject.groups.push_back(
        streamline_group("bundles", 3 + i, 10 * (i + 1), kind == format::Kind::dwi_ml && i % 2));
    plan.subjects.push_back(subject);
  }
  plan.training = {"sub-0", "sub-1", "sub-2"};
  plan.validation = {"sub-3"};
  plan.testing = {"sub-4"};
  plan.groups_config = "{'dwi': {'type': 'volume'}}";
  plan.space_2021 = "vox";
  plan.data_and_time = "06 December 2026 12:00:00";
  plan.streamline_options.step_size_mm = 0.5;
  return plan;
}

/// Rows whose values depend on the subject and the dataset (so a mix-up is visible).
template <class T> std::vector<T> rows_of(const format::Dataset& d, size_t subject) {
  uint64_t n = 1;
  for (uint64_t x : d.dims)
    n *= x;
  std::vector<T> values(n);
  for (uint64_t i = 0; i < n; ++i)
    values[i] = static_cast<T>((i * 7 + subject * 13 + d.path.size()) % 97);
  return values;
}

/// Write every dataset of subject `s`, open in `layout` (any rank may: independent I/O).
void write_subject(format::Layout& layout, const format::Plan& plan, size_t s) {
  for (size_t g = 0; g < plan.subjects[s].groups.size(); ++g)
    for (format::Dataset& d : layout.group(s, g).items) {
      const uint64_t rows = d.dims.at(0);
      if (rows == 0) continue;
      switch (d.type) {
      case format::Type::f32: {
        const auto v = rows_of<float>(d, s);
        format::write_rows(layout, d, v.data(), 0, rows);
        break;
      }
      case format::Type::i64: {
        const auto v = rows_of<int64_t>(d, s);
        format::write_rows(layout, d, v.data(), 0, rows);
        break;
      }
      case format::Type::bool_enum: {
        auto v = rows_of<int8_t>(d, s);
        for (auto& x : v)
          x = x % 2;
        format::write_rows(layout, d, v.data(), 0, rows);
        break;
      }
      default:
        FAIL() << "unexpected dataset type in " << d.path;
      }
    }
}

void check_with_h5py(const std::string& file, const char* layout) {
  const std::string cmd = std::string(DWIPACK_PYTHON) + " " + DWIPACK_TEST_PY_DIR +
                          "/check_format_layout.py " + file + " " + layout;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

/// How the layout is made: collectively by every rank, or by rank 0 alone in a serial file that
/// all ranks then open in parallel, attaching the places rank 0 broadcast (as `dwipack create`).
enum class Build { collective, by_rank0 };

std::pair<dwipack::h5::File, format::Layout>
make_layout(const std::string& path, const format::Plan& plan, Build build) {
  const auto& comm = world();
  if (build == Build::collective) {
    auto file = dwipack::h5::File::create_parallel(path, comm.get());
    format::Layout layout = format::create_layout(file, plan);
    file.flush();
    return {std::move(file), std::move(layout)};
  }
  format::LayoutPlaces places;
  if (comm.rank() == 0) {
    auto serial = dwipack::h5::File::create_serial(path);
    EXPECT_FALSE(serial.parallel());
    format::Layout layout = format::create_layout(serial, plan);
    places = layout.places();
    layout.close();
    serial.close();
  }
  dwipack::pipeline::broadcast_message(comm, places, 0);
  auto file = dwipack::h5::File::open_parallel(path, comm.get());
  format::Layout layout = format::attach_layout(file, std::move(places));
  return {std::move(file), std::move(layout)};
}

void round_trip(format::Kind kind,
                const char* layout_name,
                bool direct = false,
                Build build = Build::collective) {
  const auto& comm = world();
  SharedTempDir dir(comm);
  const std::string path = dir / "layout.hdf5";
  const format::Plan plan = make_plan(kind);
  std::vector<format::Checksums> written(plan.subjects.size());
  {
    auto [file, layout] = make_layout(path, plan, build);
    if (direct) { // rows straight to their file ranges (where the file system takes O_DIRECT)
      file.enable_direct_writes();
      layout.direct = file.direct_writer();
    }
    for (size_t s = 0; s < plan.subjects.size(); ++s)
      if (static_cast<int>(s) % comm.size() == comm.rank()) {
        format::OpenSubject open = layout.open_subject(plan, s);
        write_subject(layout, plan, s);
        written[s] = format::subject_checksums(layout, plan, s);
        open.close();
      }
    // Each rank opened its own subjects' datasets: alike metadata caches for the collective end.
    layout.close();
    file.reopen();
    format::Provenance provenance;
    provenance.version = "test";
    provenance.command_line = "cmd";
    format::write_root(file, plan, std::vector<bool>(plan.subjects.size(), false), provenance);
    file.close();
  }
  {
    auto file = dwipack::h5::File::open_parallel(path, comm.get());
    format::Layout layout = format::open_layout(file, plan);
    for (size_t s = 0; s < plan.subjects.size(); ++s) {
      if (static_cast<int>(s) % comm.size() != comm.rank()) continue;
      const format::OpenSubject open = layout.open_subject(plan, s);
      EXPECT_EQ(format::verify_subject(layout, plan, s, written[s]), "") << plan.subjects[s].id;
      format::Checksums changed = written[s];
      changed.begin()->second.crc ^= 1;
      EXPECT_NE(format::verify_subject(layout, plan, s, changed).find("differs from what was written"),
                std::string::npos);
    }
    layout.close();
    file.close();
  }
  if (comm.rank() == 0) {
    check_with_h5py(path, layout_name);
    // A plan whose shapes differ from the file's cannot reopen it.
    format::Plan other = plan;
    other.subjects[1].groups[0].volume.nb_features += 1;
    auto file = dwipack::h5::File::open_read(path);
    try {
      format::open_layout(file, other);
      ADD_FAILURE() << "open_layout accepted a plan with other shapes";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'/sub-1/dwi/data'"), std::string::npos) << e.what();
    }
    file.close();
  }
  dir.done();
}

} // namespace

TEST(FormatLayout, ModernLayoutCreatedReopenedAndVerified) {
  round_trip(format::Kind::dwi_ml, "dwi_ml");
}

TEST(FormatLayout, ModernLayoutWrittenDirectlyReopenedAndVerified) {
  round_trip(format::Kind::dwi_ml, "dwi_ml", /*direct=*/true);
}

TEST(FormatLayout, Layout2021CreatedReopenedAndVerified) {
  round_trip(format::Kind::dwi_ml_2021, "dwi_ml_2021");
}

TEST(FormatLayout, LayoutBuiltByRank0AttachedEverywhereWrittenDirectly) {
  round_trip(format::Kind::dwi_ml, "dwi_ml", /*direct=*/true, Build::by_rank0);
}

TEST(FormatLayout, Layout2021BuiltByRank0AttachedEverywhere) {
  round_trip(format::Kind::dwi_ml_2021, "dwi_ml_2021", /*direct=*/false, Build::by_rank0);
}

TEST(FormatLayout, BuilderMakesWhatCreateLayoutMakesAndChecksThePlan) {
  const auto& comm = world();
  SharedTempDir dir(comm);
  if (comm.rank() == 0) { // what rank 0 does while the workers plan: serial files
    const format::Plan plan = make_plan(format::Kind::dwi_ml);
    auto whole = dwipack::h5::File::create_serial(dir / "whole.hdf5");
    const format::LayoutPlaces expected = format::create_layout(whole, plan).places();
    whole.close();
    auto step = dwipack::h5::File::create_serial(dir / "step.hdf5");
    format::LayoutBuilder builder(step, plan.kind);
    for (const auto& subject : plan.subjects)
      builder.add(subject);
    const format::LayoutPlaces built = builder.finish(plan);
    step.close();
    EXPECT_EQ(built.offsets, expected.offsets); // the same objects, made in the same order
    EXPECT_EQ(built.first, expected.first);

    auto partial = dwipack::h5::File::create_serial(dir / "partial.hdf5");
    format::LayoutBuilder short_builder(partial, plan.kind);
    short_builder.add(plan.subjects[0]);
    short_builder.add(plan.subjects[2]);
    format::Plan two = plan;
    two.subjects.resize(2);
    for (const auto& [what, p, needle] :
         {std::tuple{"fewer subjects", plan, "has 2 subjects, the plan 5"},
          std::tuple{"another order", two, "has subject 'sub-2' where the plan has 'sub-1'"}})
      try {
        short_builder.finish(p);
        ADD_FAILURE() << what << ": finish accepted the plan";
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << what << ": " << e.what();
      }
    partial.close();
  }
  dir.done();
}
