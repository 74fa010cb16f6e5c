#include "sam2/modeling/batched_matmul.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <vector>

namespace sam2::modeling {
namespace {

struct Case {
  std::vector<int64_t> a_shape, b_shape;
  bool transpose_b;  // b built as [..., n, k] and transposed (k^T in attention)
  bool transpose_a;
  // Both built as [B, L, h, E] and seen as [B, h, L, E] (heads split off the
  // channels): leading dimensions that no view can merge.
  bool split_heads = false;
};

// A [B, h, rows, cols] operand laid out as attention's separate_heads leaves
// it: [B, rows, h, cols] memory, transposed.
at::Tensor SplitHeads(const std::vector<int64_t>& shape) {
  return at::randn({shape[0], shape[2], shape[1], shape[3]}).transpose(1, 2);
}

// Values and both gradients bitwise equal to at::matmul's, with 2 threads
// (the small products run in parallel there, one thread each).
TEST(BatchedMatmulTest, BitwiseEqualToMatmulForwardAndBackward) {
  ASSERT_TRUE(HasBatchedMatmulKernel()) << "no sgemm_ in the loaded BLAS";
  at::set_num_threads(2);
  const std::vector<Case> cases = {
      {{2, 8, 7, 16}, {2, 8, 16, 256}, false, false},    // decoder tokens
      {{2, 8, 256, 16}, {2, 8, 16, 7}, true, false},     // k^T
      {{4, 64, 64, 16}, {4, 64, 16, 64}, true, false},   // Hiera windows
      {{4, 64, 64, 64}, {4, 64, 64, 16}, false, true},   // transposed a
      {{1, 1, 256, 64}, {1, 1, 64, 1792}, true, false},  // memory attention
      {{3, 300, 70}, {3, 70, 90}, false, false},         // large: BLAS threads
      {{5, 1, 40, 30}, {5, 1, 30, 20}, false, false},
      {{6, 3, 4, 5}, {6, 3, 5, 6}, false, false},  // tiny: at::bmm loop
      {{2, 8, 7, 16}, {2, 8, 16, 256}, false, false, true},  // split heads
      {{2, 8, 256, 16}, {2, 8, 16, 7}, true, false, true},   // split k^T
      {{2, 4, 300, 32}, {2, 4, 32, 300}, true, false, true},
      {{2, 4, 300, 300}, {2, 4, 300, 32}, false, false, true},
  };
  for (const Case& c : cases) {
    at::manual_seed(7);
    at::Tensor a0 =
        c.split_heads ? SplitHeads(c.a_shape) : at::randn(c.a_shape);
    at::Tensor b0 = at::randn(c.b_shape);
    if (c.split_heads) {
      b0 = c.transpose_b ? SplitHeads({c.b_shape[0], c.b_shape[1], c.b_shape[3],
                                       c.b_shape[2]})
                               .transpose(-2, -1)
                         : SplitHeads(c.b_shape);
    } else if (c.transpose_b)
      b0 = b0.transpose(-2, -1).contiguous().transpose(-2, -1);
    if (c.transpose_a) a0 = a0.transpose(-2, -1).contiguous().transpose(-2, -1);
    at::Tensor a1 = a0.detach().requires_grad_(),
               b1 = b0.detach().requires_grad_();
    at::Tensor a2 = a0.detach().requires_grad_(),
               b2 = b0.detach().requires_grad_();
    const at::Tensor ours = BatchedMatmul(a1, b1);
    const at::Tensor theirs = at::matmul(a2, b2);
    ASSERT_EQ(ours.sizes(), theirs.sizes());
    EXPECT_TRUE(at::equal(ours, theirs)) << c.a_shape << " @ " << c.b_shape;
    const at::Tensor g = at::randn(theirs.sizes());
    ours.backward(g);
    theirs.backward(g);
    EXPECT_TRUE(at::equal(a1.grad(), a2.grad())) << "grad a " << c.a_shape;
    EXPECT_TRUE(at::equal(b1.grad(), b2.grad())) << "grad b " << c.b_shape;
  }
}

// The tokens-major result is the same product written as [B, m, h, n],
// on the batched path, the large one-at-a-time path and the tiny fallback.
TEST(BatchedMatmulTest, TokensMajorResultIsTheProductInAnotherLayout) {
  at::set_num_threads(2);
  for (const auto& shapes : std::vector<std::vector<std::vector<int64_t>>>{
           {{2, 8, 196, 196}, {2, 8, 196, 56}},
           {{1, 2, 300, 300}, {1, 2, 300, 70}},
           {{2, 3, 4, 5}, {2, 3, 5, 6}}}) {
    at::manual_seed(3);
    const at::Tensor a = at::randn(shapes[0]);
    const at::Tensor b = SplitHeads(shapes[1]);
    const at::Tensor out = BatchedMatmulNoGradTokensMajor(a, b);
    EXPECT_TRUE(out.transpose(1, 2).is_contiguous()) << shapes[0];
    EXPECT_TRUE(at::equal(out, at::matmul(a, b))) << shapes[0];
  }
}

TEST(BatchedMatmulTest, OtherShapesFallBackToMatmul) {
  // Broadcast batch dims and 2-D operands are at::matmul's.
  const at::Tensor a = at::randn({2, 3, 4, 5}), b = at::randn({1, 3, 5, 6});
  EXPECT_TRUE(at::equal(BatchedMatmul(a, b), at::matmul(a, b)));
  const at::Tensor c = at::randn({4, 5}), d = at::randn({5, 6});
  EXPECT_TRUE(at::equal(BatchedMatmul(c, d), at::matmul(c, d)));
  const at::Tensor e = at::randn({2, 40, 50}, at::kDouble),
                   f = at::randn({2, 50, 60}, at::kDouble);
  EXPECT_TRUE(at::equal(BatchedMatmul(e, f), at::matmul(e, f)));
}

}  // namespace
}  // namespace sam2::modeling
