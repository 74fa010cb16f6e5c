#include "sam2/modeling/dropout.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace sam2::modeling {
namespace {

TEST(DropoutTest, KeepsEachElementWithProbabilityOneMinusP) {
  at::manual_seed(1);
  const at::Tensor like = at::empty({1 << 21});
  for (const double p : {0.1, 0.5, 0.9}) {
    const at::Tensor keep = DropoutKeepMask(like, p);
    ASSERT_EQ(keep.scalar_type(), at::kBool);
    const double n = static_cast<double>(keep.numel());
    const double kept = keep.sum().item<double>();
    // Binomial(n, 1 - p): 6 standard deviations.
    EXPECT_NEAR(kept / n, 1 - p, 6 * std::sqrt(p * (1 - p) / n)) << p;
    // Neighbours independent: P(both kept) = (1 - p)^2.
    const double pairs =
        (keep.slice(0, 1) & keep.slice(0, 0, -1)).sum().item<double>();
    EXPECT_NEAR(pairs / (n - 1), (1 - p) * (1 - p),
                6 * std::sqrt((1 - p) * (1 - p) / n))
        << p;
  }
  EXPECT_TRUE(DropoutKeepMask(like, 0.0).all().item<bool>());
  EXPECT_FALSE(DropoutKeepMask(like, 1.0).any().item<bool>());
}

TEST(DropoutTest, ReproducibleFromTheSeedForAnyThreadCount) {
  const at::Tensor like = at::empty({300, 700});
  const int threads = at::get_num_threads();
  at::manual_seed(42);
  at::set_num_threads(1);
  const at::Tensor one_thread = DropoutKeepMask(like, 0.3);
  const at::Tensor next_draw = DropoutKeepMask(like, 0.3);
  at::manual_seed(42);
  at::set_num_threads(std::max(2, threads));
  const at::Tensor two_threads = DropoutKeepMask(like, 0.3);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(one_thread, two_threads));
  EXPECT_FALSE(at::equal(one_thread, next_draw));
  EXPECT_EQ(one_thread.sizes(), like.sizes());
}

TEST(DropoutTest, ArithmeticIsAtDropoutsWithTheKeepMask) {
  const at::Tensor x = at::randn({64, 33}).requires_grad_();
  at::manual_seed(9);
  const at::Tensor out = Dropout(x, 0.2, /*train=*/true);
  at::manual_seed(9);
  const at::Tensor keep = DropoutKeepMask(x, 0.2);
  const at::Tensor expected = x.detach() * keep.to(at::kFloat).div_(1 - 0.2);
  EXPECT_TRUE(at::equal(out.detach(), expected));
  out.sum().backward();
  EXPECT_TRUE(at::equal(x.grad(), keep.to(at::kFloat).div_(1 - 0.2)));
}

TEST(DropoutTest, ApplyKeepMaskIsBitwiseTheProductWithTheNoise) {
  at::manual_seed(3);
  at::Tensor x = at::randn({40, 70}).t();  // not contiguous
  x[0][0] = -1.5f;                         // -1.5 * 0 is -0
  x[1][1] = std::numeric_limits<float>::infinity();
  x[2][2] = std::numeric_limits<float>::quiet_NaN();
  const at::Tensor keep = DropoutKeepMask(x, 0.3);
  keep[0][0] = false;
  keep[1][1] = false;
  const at::Tensor expected = x * DropoutScale(keep, 0.3);
  const at::Tensor out = ApplyKeepMask(x, keep, 0.3);
  // equal() treats NaN as unequal: compare the bits.
  EXPECT_TRUE(at::equal(out.view(at::kInt), expected.view(at::kInt)));
  at::Tensor in_place = x.contiguous();
  ApplyKeepMaskInPlace(in_place, keep, 0.3);
  EXPECT_TRUE(at::equal(in_place.view(at::kInt), expected.view(at::kInt)));
  const at::Tensor d = x.to(at::kDouble);
  EXPECT_TRUE(at::allclose(ApplyKeepMask(d, keep, 0.3),
                           d * DropoutScale(keep, 0.3, at::kDouble), 0, 0,
                           /*equal_nan=*/true));
  at::Tensor strided = at::randn({8, 8}).t();
  EXPECT_THROW(
      ApplyKeepMaskInPlace(strided, DropoutKeepMask(strided, 0.5), 0.5),
      c10::Error);
}

TEST(DropoutTest, IdentityInEvalOrAtZeroAndZeroAtOne) {
  const at::Tensor x = at::randn({10, 10});
  EXPECT_TRUE(Dropout(x, 0.5, /*train=*/false).is_same(x));
  EXPECT_TRUE(Dropout(x, 0.0, /*train=*/true).is_same(x));
  EXPECT_EQ(Dropout(x, 1.0, /*train=*/true).abs().sum().item<float>(), 0.f);
  const at::Tensor d = at::randn({50, 50}, at::kDouble);
  at::manual_seed(4);
  const at::Tensor out = Dropout(d, 0.5, true);
  at::manual_seed(4);
  EXPECT_TRUE(at::equal(
      out, d * DropoutKeepMask(d, 0.5).to(at::kDouble).div_(1 - 0.5)));
}

TEST(DropoutTest, RejectsProbabilitiesOutsideZeroToOne) {
  EXPECT_THROW(DropoutKeepMask(at::empty({3}), 1.5), c10::Error);
  EXPECT_THROW(DropoutKeepMask(at::empty({3}), -0.1), c10::Error);
}

}  // namespace
}  // namespace sam2::modeling
