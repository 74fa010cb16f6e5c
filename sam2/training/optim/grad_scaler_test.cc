#include "sam2/training/optim/grad_scaler.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <limits>

namespace sam2::training::optim {
namespace {

at::Tensor ParamWithGrad(at::Tensor grad) {
  at::Tensor p = at::zeros_like(grad).requires_grad_(true);
  p.mutable_grad() = grad;
  return p;
}

TEST(GradScalerTest, UnscalingRestoresTheGradientsExactly) {
  GradScaler scaler;
  EXPECT_EQ(scaler.scale(), 65536.0);
  const at::Tensor g = at::randn({5, 7});
  at::Tensor p = ParamWithGrad(g * scaler.scale());
  at::Tensor without_grad = at::zeros({3}).requires_grad_(true);
  EXPECT_FALSE(scaler.UnscaleAndCheck({p, without_grad}));
  EXPECT_TRUE(at::equal(p.grad(), g));  // powers of two: exact
  EXPECT_FALSE(without_grad.grad().defined());
}

TEST(GradScalerTest, InfOrNanAnywhereIsFoundAndBacksOff) {
  GradScaler scaler;
  at::Tensor clean = ParamWithGrad(at::ones({4}));
  at::Tensor g = at::ones({4});
  g[2] = std::numeric_limits<float>::quiet_NaN();
  at::Tensor nan = ParamWithGrad(g);
  EXPECT_TRUE(scaler.UnscaleAndCheck({clean, nan}));
  at::Tensor inf = ParamWithGrad(at::full({2}, INFINITY));
  EXPECT_TRUE(scaler.UnscaleAndCheck({inf, clean}));
  scaler.Update(true);
  EXPECT_EQ(scaler.scale(), 32768.0);
  EXPECT_EQ(scaler.growth_tracker(), 0);
}

TEST(GradScalerTest, GrowsAfterGrowthIntervalCleanStepsInARow) {
  GradScalerOptions options;
  options.init_scale = 8;
  options.growth_interval = 3;
  GradScaler scaler(options);
  scaler.Update(false);
  scaler.Update(false);
  scaler.Update(true);  // resets the count
  EXPECT_EQ(scaler.scale(), 4);
  scaler.Update(false);
  scaler.Update(false);
  EXPECT_EQ(scaler.scale(), 4);
  EXPECT_EQ(scaler.growth_tracker(), 2);
  scaler.Update(false);
  EXPECT_EQ(scaler.scale(), 8);
  EXPECT_EQ(scaler.growth_tracker(), 0);
}

TEST(GradScalerTest, RestoreContinuesFromTheSavedState) {
  GradScalerOptions options;
  options.growth_interval = 2;
  GradScaler a(options), b(options);
  a.Update(false);
  b.Restore(a.scale(), a.growth_tracker());
  a.Update(false);
  b.Update(false);
  EXPECT_EQ(a.scale(), b.scale());
  EXPECT_EQ(b.scale(), 2 * 65536.0);
}

}  // namespace
}  // namespace sam2::training::optim
