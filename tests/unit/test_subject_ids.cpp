// Subject ids are folder names of the dwi_ml_ready folder and HDF5 group names: a list line that
// is a path, '.', '..', or holds a control character or invalid UTF-8 is refused, naming the list
// and the line, before anything is read.
#include "dwipack/config.hpp"
#include "dwipack/error.hpp"

#include "support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

using dwipack::Error;
using dwipack::printable;
using dwipack::why_not_subject_id;
using testing::HasSubstr;
using testing::ThrowsMessage;

TEST(SubjectId, PlainFolderNamesAreAccepted) {
  for (const char* id : {"sub-01", "sub_1.ses-2", "..sub", "a..b", "patient é", "被験者", "x\\y", "-"})
    EXPECT_EQ(why_not_subject_id(id), "") << id;
}

TEST(SubjectId, PathsDotsControlCharactersAndBadUtf8AreRefused) {
  EXPECT_THAT(why_not_subject_id("../outside/sub_2"), HasSubstr("contains '/'"));
  EXPECT_THAT(why_not_subject_id("sub_1/anat"), HasSubstr("contains '/'"));
  EXPECT_THAT(why_not_subject_id("/abs"), HasSubstr("contains '/'"));
  EXPECT_THAT(why_not_subject_id(".."), HasSubstr("'.' and '..'"));
  EXPECT_THAT(why_not_subject_id("."), HasSubstr("'.' and '..'"));
  EXPECT_THAT(why_not_subject_id(""), HasSubstr("empty"));
  EXPECT_THAT(why_not_subject_id(std::string("a\0b", 3)), HasSubstr("control character"));
  EXPECT_THAT(why_not_subject_id("a\x01"), HasSubstr("control character"));
  EXPECT_THAT(why_not_subject_id("a\x7f"), HasSubstr("control character"));
  EXPECT_THAT(why_not_subject_id("sub\xff"), HasSubstr("UTF-8"));
  EXPECT_THAT(why_not_subject_id("sub\xc3\x28"), HasSubstr("UTF-8"));         // bad continuation
  EXPECT_THAT(why_not_subject_id("sub\xc0\xaf"), HasSubstr("UTF-8"));         // overlong '/'
  EXPECT_THAT(why_not_subject_id("sub\xed\xa0\x80"), HasSubstr("UTF-8"));     // a surrogate
  EXPECT_THAT(why_not_subject_id("sub\xf4\x90\x80\x80"), HasSubstr("UTF-8")); // above U+10FFFF
  EXPECT_THAT(why_not_subject_id("sub\xe2\x82"), HasSubstr("UTF-8"));         // cut short
}

TEST(SubjectId, PrintableEscapesWhatATerminalWouldNotShow) {
  EXPECT_EQ(printable("sub-01"), "sub-01");
  EXPECT_EQ(printable("a\x01"
                      "b"),
            "a\\x01b");
  EXPECT_EQ(printable("s\xff"), "s\\xff");
  EXPECT_EQ(printable("é"), "é");
}

TEST(SubjectId, AListNamesTheLineOfABadId) {
  dwipack::test::TempDir dir;
  const std::string path = dir.write("valid.txt", "sub-01\n\n  sub-02 ../outside/sub_2\nsub-03\n");
  EXPECT_THAT(
      [&] { dwipack::read_subject_list(path); },
      ThrowsMessage<Error>(HasSubstr("subject list '" + path +
                                     "': line 3: subject id '../outside/sub_2' is not a plain folder name")));
  const std::string control = dir.write("train.txt", "sub-01\x01\n");
  EXPECT_THAT([&] { dwipack::read_subject_list(control); },
              ThrowsMessage<Error>(HasSubstr("line 1: subject id 'sub-01\\x01'")));
}
