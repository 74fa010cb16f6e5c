// Under --config=cuda this links against NCCL and asks it for its version;
// on CPU builds NCCL is absent and the test only checks that nothing CUDA
// leaked into the build.
#include <gtest/gtest.h>

#ifdef SAM2_WITH_CUDA
#include <nccl.h>
#endif

namespace {

TEST(NcclLinkTest, VersionOrAbsent) {
#ifdef SAM2_WITH_CUDA
  int version = 0;
  ASSERT_EQ(ncclGetVersion(&version), ncclSuccess);
  EXPECT_GE(version, 2000);
#else
  SUCCEED() << "CPU build: NCCL not linked";
#endif
}

}  // namespace
