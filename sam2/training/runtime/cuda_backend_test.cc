#include "sam2/training/runtime/cuda_backend.h"

#include <ATen/Context.h>
#include <gtest/gtest.h>

namespace sam2::training {
namespace {

TEST(CudaBackendTest, DefaultsAreTheReferences) {
  const CudaBackendSettings s =
      CudaBackendSettingsFromConfig(config::CudaConfig());
  EXPECT_TRUE(s.cudnn_benchmark);
  EXPECT_FALSE(s.cudnn_deterministic);
  EXPECT_FALSE(s.matmul_allow_tf32);
  EXPECT_FALSE(s.cudnn_allow_tf32);
}

TEST(CudaBackendTest, SpecificTf32SwitchesOverrideAllowTf32) {
  config::CudaConfig c;
  c.set_allow_tf32(true);
  CudaBackendSettings s = CudaBackendSettingsFromConfig(c);
  EXPECT_TRUE(s.matmul_allow_tf32);
  EXPECT_TRUE(s.cudnn_allow_tf32);
  c.set_cudnn_allow_tf32(false);
  s = CudaBackendSettingsFromConfig(c);
  EXPECT_TRUE(s.matmul_allow_tf32);
  EXPECT_FALSE(s.cudnn_allow_tf32);
  c.clear_allow_tf32();
  c.set_matmul_allow_tf32(true);
  s = CudaBackendSettingsFromConfig(c);
  EXPECT_TRUE(s.matmul_allow_tf32);
  EXPECT_FALSE(s.cudnn_allow_tf32);
}

TEST(CudaBackendTest, AppliesToLibTorchsGlobalContext) {
  // LibTorch's own defaults are not the reference's: cuDNN benchmark off and
  // TF32 allowed in cuDNN.
  at::globalContext().setBenchmarkCuDNN(false);
  at::globalContext().setAllowTF32CuDNN(true);
  ApplyCudaBackendSettings(CudaBackendSettingsFromConfig(config::CudaConfig()));
  EXPECT_TRUE(at::globalContext().benchmarkCuDNN());
  EXPECT_FALSE(at::globalContext().deterministicCuDNN());
  EXPECT_FALSE(at::globalContext().allowTF32CuBLAS());
  EXPECT_FALSE(at::globalContext().allowTF32CuDNN());
  CudaBackendSettings on;
  on.cudnn_deterministic = true;
  on.matmul_allow_tf32 = true;
  ApplyCudaBackendSettings(on);
  EXPECT_TRUE(at::globalContext().deterministicCuDNN());
  EXPECT_TRUE(at::globalContext().allowTF32CuBLAS());
  EXPECT_EQ(DescribeCudaBackendSettings(on),
            "cuDNN benchmark on, deterministic on, TF32 matmul on, TF32 cuDNN "
            "off");
}

}  // namespace
}  // namespace sam2::training
