#include "sam2/modeling/resize.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <tuple>

namespace sam2::modeling {
namespace {

// Values bitwise ATen's; the gradient ATen's to float rounding, for up- and
// downsampling by whole and fractional factors. (ATen's own float gradient
// is 1.6e-6 of its largest value off its double one at 37 x 53 -> 100 x 71:
// the bound leaves room for summing in another order.)
TEST(ResizeBilinear, MatchesAtenValuesAndGradient) {
  const std::tuple<int64_t, int64_t, int64_t, int64_t> cases[] = {
      {64, 64, 256, 256}, {37, 53, 100, 71}, {100, 71, 37, 53},
      {1, 5, 4, 9},       {16, 16, 16, 16},
  };
  at::manual_seed(3);
  for (const auto& [in_h, in_w, out_h, out_w] : cases) {
    SCOPED_TRACE(testing::Message()
                 << in_h << "x" << in_w << " -> " << out_h << "x" << out_w);
    const at::Tensor x = at::randn({2, 3, in_h, in_w});
    const at::Tensor grad = at::randn({2, 3, out_h, out_w});
    at::Tensor ours_in = x.clone().requires_grad_();
    at::Tensor aten_in = x.clone().requires_grad_();
    const at::Tensor ours = ResizeBilinear(ours_in, out_h, out_w);
    const at::Tensor aten = at::upsample_bilinear2d(
        aten_in, {out_h, out_w}, false, c10::nullopt, c10::nullopt);
    EXPECT_TRUE(at::equal(ours, aten));
    ours.backward(grad);
    aten.backward(grad);
    const double scale = aten_in.grad().abs().max().item<double>();
    EXPECT_LE((ours_in.grad() - aten_in.grad()).abs().max().item<double>(),
              5e-6 * scale);
  }
}

TEST(ResizeBilinear, OtherInputsTakeAtensPath) {
  const at::Tensor x = at::randn({1, 2, 5, 7}, at::kDouble).requires_grad_();
  const at::Tensor y = ResizeBilinear(x, 9, 3);
  EXPECT_EQ(y.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::equal(y, at::upsample_bilinear2d(
                               x, {9, 3}, false, c10::nullopt, c10::nullopt)));
  y.sum().backward();
  // Each input pixel's weights over the output sum to out/in per axis.
  EXPECT_NEAR(x.grad().sum().item<double>(), 9 * 3 * 2, 1e-9);
}

}  // namespace
}  // namespace sam2::modeling
