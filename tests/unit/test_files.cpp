// Resolution of config 'files' entries in a subject folder: literals, glob patterns, sorting.
#include "dwipack/io/files.hpp"

#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

using dwipack::io::is_directory;
using dwipack::io::is_regular_file;
using dwipack::io::resolve_entries;
using dwipack::io::ResolvedFiles;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;

using dwipack::test::TempDir;

namespace {

/// A subject folder with a known tree:
///   a.nii.gz b.nii.gz B.nii.gz dwi.nii.gz c.nii .hidden.nii.gz  (files)
///   x1.trk y1.trk x2.trk xx.trk 'q?.txt' '[ab].txt'             (files)
///   dir.nii.gz/  anat/t1.nii.gz anat/t2.nii.gz anat/.t3.nii.gz     (a folder, a subfolder)
///   link.nii -> c.nii   dangling.nii -> nowhere   dirlink.nii.gz -> anat
class FilesTree : public testing::Test {
protected:
  TempDir tmp;
  std::string sub = tmp.path() + "/sub-01";

  void SetUp() override {
    std::filesystem::create_directories(sub + "/anat");
    std::filesystem::create_directories(sub + "/dir.nii.gz");
    for (const char* f :
         {"a.nii.gz", "b.nii.gz", "B.nii.gz", "dwi.nii.gz", "c.nii", ".hidden.nii.gz", "x1.trk", "y1.trk",
          "x2.trk", "xx.trk", "q?.txt", "[ab].txt", "anat/t1.nii.gz", "anat/t2.nii.gz", "anat/.t3.nii.gz"})
      touch(sub + "/" + f);
    ASSERT_EQ(symlink("c.nii", (sub + "/link.nii").c_str()), 0);
    ASSERT_EQ(symlink("nowhere.nii", (sub + "/dangling.nii").c_str()), 0);
    ASSERT_EQ(symlink("anat", (sub + "/dirlink.nii.gz").c_str()), 0);
  }
  static void touch(const std::string& path) { std::ofstream(path) << "x"; }
  std::string in_sub(const std::string& name) const { return sub + "/" + name; }
};

TEST_F(FilesTree, LiteralPresentAndMissing) {
  const ResolvedFiles r = resolve_entries(sub, {"dwi.nii.gz", "missing.nii.gz", "anat/t1.nii.gz"});
  EXPECT_THAT(r.files, ElementsAre(in_sub("dwi.nii.gz"), in_sub("anat/t1.nii.gz")));
  EXPECT_THAT(r.missing, ElementsAre("missing.nii.gz"));
}

TEST_F(FilesTree, LiteralMustBeARegularFileOrALinkToOne) {
  const ResolvedFiles r =
      resolve_entries(sub, {"link.nii", "dangling.nii", "anat", "dir.nii.gz", ".hidden.nii.gz"});
  EXPECT_THAT(r.files, ElementsAre(in_sub("link.nii"), in_sub(".hidden.nii.gz")));
  EXPECT_THAT(r.missing, ElementsAre("dangling.nii", "anat", "dir.nii.gz"));
}

TEST_F(FilesTree, LiteralWildcardCharactersAreNotPatterns) {
  // Without '*', '?' and '[' are plain characters (as in dwi_ml).
  const ResolvedFiles r = resolve_entries(sub, {"q?.txt", "[ab].txt", "x?.trk"});
  EXPECT_THAT(r.files, ElementsAre(in_sub("q?.txt"), in_sub("[ab].txt")));
  EXPECT_THAT(r.missing, ElementsAre("x?.trk"));
}

TEST_F(FilesTree, PatternMatchesSortedBytewiseWithoutHiddenOrDirectories) {
  // 'B' < 'a' bytewise; dir.nii.gz and dirlink.nii.gz (folders) and .hidden.nii.gz are not returned.
  const ResolvedFiles r = resolve_entries(sub, {"*.nii.gz"});
  EXPECT_THAT(r.files,
              ElementsAre(in_sub("B.nii.gz"), in_sub("a.nii.gz"), in_sub("b.nii.gz"), in_sub("dwi.nii.gz")));
  EXPECT_THAT(r.missing, IsEmpty());
}

TEST_F(FilesTree, ExplicitDotPatternMatchesHiddenFiles) {
  const ResolvedFiles r = resolve_entries(sub, {".*.nii.gz", "anat/.*"});
  EXPECT_THAT(r.files, ElementsAre(in_sub(".hidden.nii.gz"), in_sub("anat/.t3.nii.gz")));
}

TEST_F(FilesTree, PatternSkipsDanglingLinksWithAWarning) {
  testing::internal::CaptureStderr();
  const ResolvedFiles r = resolve_entries(sub, {"*.nii"});
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_THAT(r.files, ElementsAre(in_sub("c.nii"), in_sub("link.nii")));
  EXPECT_THAT(err, HasSubstr("pattern '*.nii' matches '" + in_sub("dangling.nii") +
                             "', which is not a regular file (dangling link?); skipped"));
}

TEST_F(FilesTree, PatternWithNoMatchIsMissing) {
  const ResolvedFiles r = resolve_entries(sub, {"*.tck", "a.nii.gz", "nothing/*"});
  EXPECT_THAT(r.files, ElementsAre(in_sub("a.nii.gz")));
  EXPECT_THAT(r.missing, ElementsAre("*.tck", "nothing/*"));
}

TEST_F(FilesTree, PatternMatchingOnlyDirectoriesIsMissing) {
  const ResolvedFiles r = resolve_entries(sub, {"dir*", "an*"});
  EXPECT_THAT(r.files, IsEmpty());
  EXPECT_THAT(r.missing, ElementsAre("dir*", "an*"));
}

TEST_F(FilesTree, QuestionMarkAndClassesInsideAPattern) {
  EXPECT_THAT(resolve_entries(sub, {"?1.t*"}).files, ElementsAre(in_sub("x1.trk"), in_sub("y1.trk")));
  EXPECT_THAT(resolve_entries(sub, {"x?.trk*"}).files,
              ElementsAre(in_sub("x1.trk"), in_sub("x2.trk"), in_sub("xx.trk")));
  EXPECT_THAT(resolve_entries(sub, {"[ab].nii*"}).files, ElementsAre(in_sub("a.nii.gz"), in_sub("b.nii.gz")));
  EXPECT_THAT(resolve_entries(sub, {"x[!x]*.trk"}).files, ElementsAre(in_sub("x1.trk"), in_sub("x2.trk")));
}

TEST_F(FilesTree, StarDoesNotCrossSlash) {
  EXPECT_THAT(resolve_entries(sub, {"*t1.nii.gz"}).missing, ElementsAre("*t1.nii.gz"));
  EXPECT_THAT(resolve_entries(sub, {"*/t*.nii.gz"}).files,
              ElementsAre(in_sub("anat/t1.nii.gz"), in_sub("anat/t2.nii.gz"),
                          in_sub("dirlink.nii.gz/t1.nii.gz"), in_sub("dirlink.nii.gz/t2.nii.gz")));
  EXPECT_THAT(resolve_entries(sub, {"anat/*"}).files,
              ElementsAre(in_sub("anat/t1.nii.gz"), in_sub("anat/t2.nii.gz")));
}

TEST_F(FilesTree, EntryOrderKeptAndNoDeduplication) {
  const ResolvedFiles r = resolve_entries(sub, {"dwi.nii.gz", "[ab].nii.g*", "a.nii.gz", "*.tck", "c.nii"});
  EXPECT_THAT(r.files, ElementsAre(in_sub("dwi.nii.gz"), in_sub("a.nii.gz"), in_sub("b.nii.gz"),
                                   in_sub("a.nii.gz"), in_sub("c.nii")));
  EXPECT_THAT(r.missing, ElementsAre("*.tck"));
}

TEST_F(FilesTree, AbsoluteEntriesEscapeTheSubjectFolder) {
  const std::string other = tmp.path() + "/shared";
  std::filesystem::create_directories(other);
  touch(other + "/atlas.nii.gz");
  touch(other + "/labels_2.nii.gz");
  touch(other + "/labels_1.nii.gz");
  const ResolvedFiles r = resolve_entries(
      sub, {other + "/atlas.nii.gz", other + "/labels_*", other + "/none.nii.gz", other + "/z*"});
  EXPECT_THAT(r.files,
              ElementsAre(other + "/atlas.nii.gz", other + "/labels_1.nii.gz", other + "/labels_2.nii.gz"));
  EXPECT_THAT(r.missing, ElementsAre(other + "/none.nii.gz", other + "/z*"));
}

TEST_F(FilesTree, SubjectFolderIsNotAPattern) {
  // A folder name with glob characters must be taken literally, not matched.
  const std::string odd = tmp.path() + "/sub[1]*?";
  std::filesystem::create_directories(odd);
  touch(odd + "/f1.nii");
  touch(odd + "/f2.nii");
  // Globbing the folder name would also pick this one ('sub' '1' any-chars one-char).
  std::filesystem::create_directories(tmp.path() + "/sub1xy");
  touch(tmp.path() + "/sub1xy/f3.nii");
  EXPECT_THAT(resolve_entries(odd, {"*.nii"}).files, ElementsAre(odd + "/f1.nii", odd + "/f2.nii"));
  EXPECT_THAT(resolve_entries(odd, {"f1.nii"}).files, ElementsAre(odd + "/f1.nii"));
}

TEST_F(FilesTree, TrailingSlashAndEmptyFolder) {
  EXPECT_THAT(resolve_entries(sub + "/", {"dwi.nii.gz", "x1*"}).files,
              ElementsAre(in_sub("dwi.nii.gz"), in_sub("x1.trk")));
  EXPECT_THAT(resolve_entries(sub, {}).files, IsEmpty());
}

TEST_F(FilesTree, PredicatesFollowSymlinks) {
  EXPECT_TRUE(is_regular_file(in_sub("a.nii.gz")));
  EXPECT_TRUE(is_regular_file(in_sub("link.nii")));
  EXPECT_FALSE(is_regular_file(in_sub("dangling.nii")));
  EXPECT_FALSE(is_regular_file(in_sub("anat")));
  EXPECT_FALSE(is_regular_file(in_sub("nothing")));
  EXPECT_TRUE(is_directory(sub));
  EXPECT_TRUE(is_directory(in_sub("dirlink.nii.gz")));
  EXPECT_FALSE(is_directory(in_sub("a.nii.gz")));
  EXPECT_FALSE(is_directory(in_sub("dangling.nii")));
  EXPECT_FALSE(is_directory(in_sub("nothing")));
}

} // namespace
