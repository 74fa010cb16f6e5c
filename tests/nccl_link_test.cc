// Under --config=cuda (the only configuration that builds it, see
// tests/BUILD.bazel) this links against NCCL and asks it for its version.
#include <gtest/gtest.h>
#include <nccl.h>

namespace {

TEST(NcclLinkTest, ReportsItsVersion) {
  int version = 0;
  ASSERT_EQ(ncclGetVersion(&version), ncclSuccess);
  EXPECT_GE(version, 2000);
  // The header and the library agree on the version.
  EXPECT_EQ(version, NCCL_VERSION_CODE);
}

}  // namespace
