#include "sam2/training/logging/profile_trace.h"

#include <ATen/ATen.h>

#include <fstream>
#include <string>

#include "base/testing/temp_dir.h"
#include "gtest/gtest.h"

namespace sam2::training {
namespace {

using ::sam2::testutil::FreshTempDir;
using ::sam2::testutil::ReadFileOrFail;

TEST(ProfileTrace, RecordsOperatorsWithTheirInputShapes) {
  const std::string path = FreshTempDir("shapes") + "/trace.json";
  {
    ProfileTrace trace(path);
    at::Tensor product = at::mm(at::ones({3, 5}), at::ones({5, 7}));
    ASSERT_EQ(product.size(1), 7);
    ASSERT_TRUE(trace.Finish().ok());
  }
  const std::string text = ReadFileOrFail(path);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.front(), '[');
  EXPECT_NE(text.find("{\"name\": \"aten::mm\", \"ph\": \"X\""),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\"shapes\": [[3,5],[5,7]]"), std::string::npos) << text;
  EXPECT_EQ(text.substr(text.size() - 3), "\n]\n");
}

TEST(ProfileTrace, AnUnwritablePathIsAnErrorNamingIt) {
  ProfileTrace trace("/nonexistent-folder/trace.json");
  at::mm(at::ones({2, 2}), at::ones({2, 2}));
  const absl::Status status = trace.Finish();
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("/nonexistent-folder/trace.json"),
            std::string::npos)
      << status;
}

TEST(ProfileTrace, RecordingStopsWithTheObjectUnwritten) {
  const std::string dir = FreshTempDir("unwritten");
  const std::string path = dir + "/never.json";
  { ProfileTrace trace(path); }
  // A second trace can start: the first one's recording was stopped.
  ProfileTrace again(dir + "/again.json");
  EXPECT_TRUE(again.Finish().ok());
  EXPECT_FALSE(std::ifstream(path).good());
}

}  // namespace
}  // namespace sam2::training
