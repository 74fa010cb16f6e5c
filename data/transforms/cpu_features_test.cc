#include "data/transforms/cpu_features.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace sam2::data::ops {
namespace {

TEST(CpuFeaturesTest, RequestedLevelParsesTheEnvironmentValue) {
  EXPECT_EQ(RequestedSimdLevel(nullptr), SimdLevel::kAvx2);
  EXPECT_EQ(RequestedSimdLevel("baseline"), SimdLevel::kBaseline);
  EXPECT_EQ(RequestedSimdLevel("sse4.1"), SimdLevel::kSse41);
  EXPECT_EQ(RequestedSimdLevel("avx2"), SimdLevel::kAvx2);
  EXPECT_EQ(RequestedSimdLevel("avx512"), SimdLevel::kAvx2);
}

TEST(CpuFeaturesTest, LevelIsStableAndWithinTheRequest) {
  const SimdLevel level = CpuSimdLevel();
  EXPECT_EQ(CpuSimdLevel(), level);
  EXPECT_LE(level, RequestedSimdLevel(std::getenv("SAM2_SIMD_LEVEL")));
}

}  // namespace
}  // namespace sam2::data::ops
