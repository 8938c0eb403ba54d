// The plan's journey between ranks without a JSON tree of the whole plan, under 1..4 ranks:
// plan_json_text gives the same bytes as nlohmann::json(plan).dump(), layout_digest the digest of
// the edited tree's text, the plan broadcast gives every rank the same plan (texts with newlines, quotes
// and the word "subjects" included; in one batch and in several), and the file format's bound on attribute
// sizes: needs_dense_attributes switches at the 64 KiB an object header message holds (4,096 names of 16
// bytes), and a layout whose plan needs it is refused by a file made without it. The layout's
// places (every dataset's file offset) reach every rank whole, and a malformed message is refused.
#include "mpi_test.hpp"

#include "dwipack/error.hpp"
#include "dwipack/format/layout.hpp"
#include "dwipack/pipeline/journal.hpp"
#include "dwipack/pipeline/messages.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace format = dwipack::format;
using dwipack::Error;
using dwipack::test::SharedTempDir;
using dwipack::test::world;

namespace {

format::Plan tricky_plan(size_t n_subjects) {
  format::Plan plan;
  for (size_t i = 0; i < n_subjects; ++i) {
    format::SubjectPlan subject;
    subject.id = "sub-" + std::to_string(i);
    format::GroupPlan g;
    g.name = i % 2 ? "dwi" : "\"subjects\":[]\nline two";
    g.type = dwipack::GroupType::volume;
    g.volume.shape = {2, 3, 4};
    g.volume.nb_features = 1 + static_cast<int64_t>(i % 3);
    g.volume.files = {"/data/" + subject.id + "/dwi.nii.gz"};
    g.volume.frames_per_file = {g.volume.nb_features};
    subject.groups.push_back(g);
    subject.inputs.push_back({"dwi.nii.gz", 1000 + static_cast<int64_t>(i), 1700000000000000000});
    subject.input_bytes = 1000 + static_cast<int64_t>(i);
    plan.subjects.push_back(subject);
    (i % 3 == 0 ? plan.training : i % 3 == 1 ? plan.validation : plan.testing).push_back(subject.id);
  }
  plan.groups_config = "{'subjects': [], \"q\": '\\n'}\n";
  plan.data_and_time = "06 December 2026 12:00:00";
  plan.skipped = {{"sub-x", "its \"subjects\":[] file\nis missing"}};
  return plan;
}

format::Plan tiny_plan(size_t n_subjects) {
  format::Plan plan;
  for (size_t i = 0; i < n_subjects; ++i) {
    format::SubjectPlan subject;
    subject.id = "sub-" + std::to_string(i);
    format::GroupPlan g;
    g.name = "mask";
    g.type = dwipack::GroupType::volume;
    g.volume.shape = {1, 1, 1};
    g.volume.nb_features = 1;
    subject.groups.push_back(g);
    plan.subjects.push_back(subject);
    plan.training.push_back(subject.id);
  }
  plan.groups_config = "{}";
  return plan;
}

} // namespace

TEST(PlanMessages, JsonTextIsTheWholeTreesDump) {
  for (const size_t n : {size_t{0}, size_t{1}, size_t{7}}) {
    const format::Plan plan = tricky_plan(n);
    EXPECT_EQ(dwipack::pipeline::plan_json_text(plan), nlohmann::json(plan).dump()) << n << " subjects";
    nlohmann::json edited = plan;
    edited["data_and_time"] = "";
    edited["skipped"] = nlohmann::json::array();
    for (auto& subject : edited["subjects"]) {
      subject["inputs"] = nlohmann::json::array();
      subject["input_bytes"] = 0;
    }
    // The journal's layout digest, made piece by piece, is the digest of that edited tree's text.
    EXPECT_EQ(dwipack::pipeline::layout_digest(plan), dwipack::pipeline::digest(edited.dump()))
        << n << " subjects";
  }
}

TEST(PlanMessages, BroadcastGivesEveryRankThePlan) {
  const auto& comm = world();
  for (const size_t n : {size_t{0}, size_t{1}, size_t{25}}) {
    const format::Plan reference = tricky_plan(n);
    format::Plan plan;
    if (comm.rank() == 0) plan = reference;
    dwipack::pipeline::broadcast_message(comm, plan, 0);
    EXPECT_EQ(nlohmann::json(plan).dump(), nlohmann::json(reference).dump()) << "rank " << comm.rank();
  }
}

TEST(PlanMessages, BroadcastInSeveralBatches) {
  // Subjects of ~200 kB of text each: the broadcast's batches of 4 MB carry a few at a time.
  const auto& comm = world();
  format::Plan reference = tricky_plan(60);
  for (auto& subject : reference.subjects)
    subject.groups[0].volume.files.push_back("/" + std::string(200'000, 'x') + "/" + subject.id);
  format::Plan plan;
  if (comm.rank() == 0) plan = reference;
  dwipack::pipeline::broadcast_message(comm, plan, 0);
  EXPECT_EQ(plan.subjects.size(), reference.subjects.size());
  EXPECT_EQ(nlohmann::json(plan).dump(), nlohmann::json(reference).dump()) << "rank " << comm.rank();
}

TEST(PlanMessages, DenseAttributesFromTheSizeOfTheLists) {
  // 16 bytes per name in the object header: 4,000 fit in 64 KiB, 4,100 do not.
  EXPECT_FALSE(format::needs_dense_attributes(tiny_plan(4000), 1));
  EXPECT_TRUE(format::needs_dense_attributes(tiny_plan(4100), 1));
  // One host name per rank counts as much.
  EXPECT_TRUE(format::needs_dense_attributes(tiny_plan(10), 4100));
  EXPECT_GT(format::largest_attribute_message(tiny_plan(4100), 1), uint64_t{65536});
}

TEST(PlanMessages, LayoutNeedingDenseAttributesIsRefusedByAFileWithout) {
  const auto& comm = world();
  SharedTempDir dir(comm);
  const format::Plan plan = tiny_plan(4100);
  {
    auto file =
        dwipack::h5::File::create_parallel(dir / "compact.hdf5", comm.get(), /*dense_attributes=*/false);
    EXPECT_FALSE(file.dense_attributes());
    try {
      format::create_layout(file, plan);
      ADD_FAILURE() << "a layout needing dense attributes was created in a file without them";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("dense attribute storage"), std::string::npos) << e.what();
    }
    file.close();
  }
  {
    auto file = dwipack::h5::File::create_parallel(dir / "dense.hdf5", comm.get(), /*dense_attributes=*/true);
    EXPECT_TRUE(file.dense_attributes());
    format::Layout layout = format::create_layout(file, plan);
    format::Provenance provenance;
    provenance.version = "test";
    provenance.rank_hosts.assign(static_cast<size_t>(comm.size()), "host");
    format::write_root(file, plan, std::vector<bool>(plan.subjects.size(), false), provenance);
    layout.close();
    file.close();
  }
  if (comm.rank() == 0) {
    auto file = dwipack::h5::File::open_read(dir / "dense.hdf5");
    EXPECT_TRUE(file.dense_attributes());
    format::open_layout(file, plan); // the shapes and the format both fit the plan
    file.close();
  }
  dir.done();
}

TEST(PlanMessages, LayoutPlacesReachEveryRankAndAMalformedMessageIsRefused) {
  const auto& comm = world();
  format::LayoutPlaces places;
  if (comm.rank() == 0) {
    places.offsets = {4096, 0xffffffffffffffffull, 123456789012345ull};
    places.first = {0, 2, 3};
  }
  dwipack::pipeline::broadcast_message(comm, places, 0);
  EXPECT_EQ(places.offsets, (std::vector<uint64_t>{4096, 0xffffffffffffffffull, 123456789012345ull}));
  EXPECT_EQ(places.first, (std::vector<size_t>{0, 2, 3}));
  format::LayoutPlaces empty;
  dwipack::pipeline::broadcast_message(comm, empty, 0);
  EXPECT_TRUE(empty.offsets.empty() && empty.first.empty());
  if (comm.size() == 1) return; // nothing travels
  // Rank 0 sends what broadcast_message would not: 17 bytes, then counts larger than the message.
  const uint64_t liar[3] = {1000, 1, 7};
  for (std::string bad :
       {std::string(17, 'x'), std::string(reinterpret_cast<const char*>(liar), sizeof liar)}) {
    if (comm.rank() == 0) {
      comm.broadcast(bad, 0);
      continue;
    }
    format::LayoutPlaces got;
    try {
      dwipack::pipeline::broadcast_message(comm, got, 0);
      ADD_FAILURE() << "a message of " << bad.size() << " bytes was accepted";
    } catch (const Error& e) {
      EXPECT_NE(
          std::string(e.what()).find("layout places: a message of " + std::to_string(bad.size()) + " bytes"),
          std::string::npos)
          << e.what();
    }
  }
}
