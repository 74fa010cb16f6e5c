#include "sam2/training/runtime/autocast.h"

#include <ATen/ATen.h>
#include <dlfcn.h>
#include <gtest/gtest.h>

#include "sam2/training/runtime/device.h"

namespace sam2::training {
namespace {

constexpr c10::DeviceType kCpu = c10::DeviceType::CPU;

// CPU autocast is the same mechanism the CUDA path uses (another dispatch
// key), so the scope's state handling is tested here.
TEST(AutocastScopeTest, MatmulRunsInTheScopeDtypeOnlyInsideTheScope) {
  const at::Tensor a = at::randn({4, 8}), b = at::randn({8, 3});
  EXPECT_EQ(at::matmul(a, b).scalar_type(), at::kFloat);
  {
    AutocastScope scope(true, kCpu, at::kBFloat16);
    EXPECT_TRUE(AutocastEnabled(kCpu));
    EXPECT_EQ(at::matmul(a, b).scalar_type(), at::kBFloat16);
    // Reductions that autocast keeps in float32 stay float32.
    EXPECT_EQ(at::matmul(a, b).to(at::kFloat).sum().scalar_type(), at::kFloat);
  }
  EXPECT_FALSE(AutocastEnabled(kCpu));
  EXPECT_EQ(at::matmul(a, b).scalar_type(), at::kFloat);
}

TEST(AutocastScopeTest, NestedScopesRestoreTheOuterState) {
  const c10::ScalarType before = AutocastDtype(kCpu);
  {
    AutocastScope outer(true, kCpu, at::kBFloat16);
    {
      AutocastScope disabled(false, kCpu, at::kHalf);  // changes nothing
      EXPECT_TRUE(AutocastEnabled(kCpu));
      EXPECT_EQ(AutocastDtype(kCpu), at::kBFloat16);
    }
    {
      // (LibTorch 1.13's CPU autocast accepts only bfloat16.)
      AutocastScope inner(true, kCpu, at::kBFloat16);
      EXPECT_TRUE(AutocastEnabled(kCpu));
    }
    // The inner scope restored "enabled", not the default "disabled".
    EXPECT_TRUE(AutocastEnabled(kCpu));
    EXPECT_EQ(AutocastDtype(kCpu), at::kBFloat16);
  }
  EXPECT_FALSE(AutocastEnabled(kCpu));
  EXPECT_EQ(AutocastDtype(kCpu), before);
}

TEST(AutocastScopeTest, AmpDtypesAreTheReferences) {
  EXPECT_EQ(AmpScalarType(config::AmpDtype::kBfloat16), at::kBFloat16);
  EXPECT_EQ(AmpScalarType(config::AmpDtype::kFloat16), at::kHalf);
}

TEST(DeviceTest, CpuAndErrorsThatSayWhatToDo) {
  auto cpu = ResolveDevice(config::Accelerator::kCpu, 3);
  ASSERT_TRUE(cpu.ok());
  EXPECT_TRUE(cpu->is_cpu());
  auto cuda = ResolveDevice(config::Accelerator::kCuda, 1);
  if (cuda.ok()) {  // a CUDA build on a GPU machine
    EXPECT_TRUE(cuda->is_cuda());
  } else {
    EXPECT_EQ(cuda.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(cuda.status().message().find("--config=cuda"), std::string::npos);
    EXPECT_NE(cuda.status().message().find("accelerator: \"cpu\""),
              std::string::npos)
        << cuda.status();
  }
}

// Test binaries load the libblas.so.3 alternative: OpenBLAS's pthreads
// build after tools/setup.sh (the jobs' OpenMP build: tests/blas_threads_test).
TEST(DeviceTest, SetsOpenBlasThreadsOfItsOwnPool) {
  if (LoadedBlasThreading() != BlasThreading::kPthreads) {
    EXPECT_FALSE(SetBlasThreads(1)) << DescribeBlas();
    GTEST_SKIP() << "the BLAS is " << DescribeBlas();
  }
  EXPECT_NE(DescribeBlas().find("own thread pool"), std::string::npos);
  using GetThreadsFn = int (*)();
  auto get_threads = reinterpret_cast<GetThreadsFn>(
      dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  ASSERT_NE(get_threads, nullptr);
  const int before = get_threads();
  ASSERT_TRUE(SetBlasThreads(2));
  EXPECT_EQ(get_threads(), 2);
  ASSERT_TRUE(SetBlasThreads(1));
  EXPECT_EQ(get_threads(), 1);
  ASSERT_TRUE(SetBlasThreads(before));
  EXPECT_EQ(get_threads(), before);
}

}  // namespace
}  // namespace sam2::training
