// The jobs' link options (//third_party:blas.bzl) load OpenBLAS's OpenMP
// build, which tools/setup.sh installs, and SetBlasThreads then leaves the
// OpenMP pool that LibTorch shares with it alone.
#include <ATen/Parallel.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sam2/training/runtime/device.h"

namespace sam2::training {
namespace {

TEST(BlasThreadsTest, JobsRunOnOpenBlasOpenMpBuild) {
  ASSERT_EQ(LoadedBlasThreading(), BlasThreading::kOpenMp)
      << "BLAS: " << DescribeBlas()
      << " (is libopenblas0-openmp installed? tools/setup.sh installs it)";
  EXPECT_THAT(DescribeBlas(), ::testing::HasSubstr("OpenBLAS"));
  EXPECT_THAT(DescribeBlas(), ::testing::HasSubstr("OpenMP"));
}

TEST(BlasThreadsTest, OpenMpBuildKeepsLibTorchThreads) {
  at::set_num_threads(2);
  EXPECT_FALSE(SetBlasThreads(1));
  EXPECT_EQ(at::get_num_threads(), 2);
}

}  // namespace
}  // namespace sam2::training
