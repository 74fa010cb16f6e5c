#include "sam2/training/loop/gradient_sync.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

namespace sam2::training {
namespace {

using ::testing::HasSubstr;

at::Tensor Leaf(std::vector<int64_t> shape, double scale) {
  return (at::ones(shape, at::kFloat) * scale).set_requires_grad(true);
}

// Gradients of slot k: values whose float sums depend on the order (big
// terms of alternating sign next to small ones).
at::Tensor SlotGrad(int k, int64_t n) {
  const float values[] = {1.0f, 1e-8f, -1.0f, 1e-8f};
  return at::full({n}, values[k % 4], at::kFloat) +
         at::arange(n, at::kFloat) * 1e-10f * static_cast<float>(k + 1);
}

TEST(SlotGradientsTest, SumsSlotsInTheCanonicalOrder) {
  at::Tensor p = Leaf({5}, 1.0);
  SlotGradients slots({p});
  for (int k = 0; k < 4; ++k) {
    p.mutable_grad() = SlotGrad(k, 5);
    slots.AddSlot();
    EXPECT_FALSE(p.grad().defined());
  }
  slots.Finish();
  const at::Tensor expected =
      (SlotGrad(0, 5) + SlotGrad(1, 5)) + (SlotGrad(2, 5) + SlotGrad(3, 5));
  EXPECT_TRUE(at::equal(p.grad(), expected));
  const at::Tensor left_to_right =
      ((SlotGrad(0, 5) + SlotGrad(1, 5)) + SlotGrad(2, 5)) + SlotGrad(3, 5);
  // The test can fail: the two orders differ in the last bits here.
  EXPECT_FALSE(at::equal(expected, left_to_right));
}

TEST(SlotGradientsTest, UnusedSlotsContributeNothingAndUnusedStaysUndefined) {
  at::Tensor used = Leaf({3}, 1.0), unused = Leaf({2}, 1.0);
  SlotGradients slots({used, unused});
  used.mutable_grad() = at::Tensor();
  slots.AddSlot();  // slot 0 used nothing
  used.mutable_grad() = SlotGrad(1, 3);
  slots.AddSlot();
  slots.Finish();
  EXPECT_TRUE(at::equal(used.grad(), SlotGrad(1, 3)));
  EXPECT_FALSE(unused.grad().defined());
}

TEST(GradientSyncTest, OneRankDividesByTheSlots) {
  at::Tensor p = Leaf({4}, 1.0);
  p.mutable_grad() = at::full({4}, 3.0f);
  GradientSync sync({{"p", p}}, {});
  auto world = distributed::MakeSingleProcessCollectives();
  ASSERT_TRUE(sync.Average(*world, 3, 1).ok());
  EXPECT_TRUE(at::equal(p.grad(), at::full({4}, 3.0f) / 3));
}

TEST(GradientSyncTest, MissingGradientIsAnErrorWithoutFindUnused) {
  at::Tensor a = Leaf({2}, 1.0), b = Leaf({2}, 1.0);
  a.mutable_grad() = at::ones({2});
  auto world = distributed::MakeSingleProcessCollectives();
  GradientSync strict({{"net.a", a}, {"net.b", b}}, {});
  absl::Status status = strict.Average(*world, 1, 7);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("step 7"));
  EXPECT_THAT(status.message(), HasSubstr("net.b"));
  EXPECT_THAT(status.message(), HasSubstr("find_unused_parameters"));
  GradientSyncOptions options;
  options.find_unused_parameters = true;
  GradientSync lenient({{"net.a", a}, {"net.b", b}}, options);
  ASSERT_TRUE(lenient.Average(*world, 1, 7).ok());
  EXPECT_FALSE(b.grad().defined());  // unused everywhere: no update
}

TEST(GradientSyncTest, CommsDtypeRoundsThroughIt) {
  at::Tensor p = Leaf({3}, 1.0);
  p.mutable_grad() = at::tensor({1.0f, 1.0f + 1.0f / 1024, 3.3f});
  GradientSyncOptions options;
  options.comms_dtype = at::kBFloat16;
  GradientSync sync({{"p", p}}, options);
  auto world = distributed::MakeSingleProcessCollectives();
  ASSERT_TRUE(sync.Average(*world, 2, 1).ok());
  const at::Tensor expected = (at::tensor({1.0f, 1.0f + 1.0f / 1024, 3.3f}) / 2)
                                  .to(at::kBFloat16)
                                  .to(at::kFloat);
  EXPECT_TRUE(at::equal(p.grad(), expected));
  EXPECT_EQ(p.grad().scalar_type(), at::kFloat);
}

}  // namespace
}  // namespace sam2::training

namespace sam2::training {
namespace {

// A model whose parameters are used differently per slot: w1 always, w2
// only in slots 0 and 1 (not in the last), w3 never.
struct ThreeParams {
  at::Tensor w1 = at::linspace(-1, 1, 8).set_requires_grad(true);
  at::Tensor w2 = at::linspace(0.5, 2, 8).set_requires_grad(true);
  at::Tensor w3 = at::zeros({8}).set_requires_grad(true);
  void Backward(int slot) {
    const at::Tensor x = at::sin(at::arange(8, at::kFloat) * (1.0 + slot));
    at::Tensor loss = (w1 * x).pow(2).sum() * 1e3;
    if (slot < 2) loss = loss + (w2 * x * w1).sum() * 1e-4;
    loss.backward();
  }
  std::vector<std::pair<std::string, at::Tensor>> Named() {
    return {{"w1", w1}, {"w2", w2}, {"w3", w3}};
  }
};

// The overlapped sync (hooks on the gradient accumulators) adds exactly as
// AddSlot + Finish + Average do.
TEST(GradientSyncTest, OverlappedEqualsSequentialBitwise) {
  auto world = distributed::MakeSingleProcessCollectives();
  GradientSyncOptions options;
  options.find_unused_parameters = true;
  options.bucket_bytes = 40;  // several buckets
  ThreeParams a, b;
  {
    SlotGradients slots({a.w1, a.w2, a.w3});
    for (int k = 0; k < 3; ++k) {
      a.Backward(k);
      slots.AddSlot();
    }
    slots.Finish();
    GradientSync sync(a.Named(), options);
    ASSERT_TRUE(sync.Average(*world, 3, 1).ok());
  }
  options.overlap = true;
  GradientSync sync(b.Named(), options);
  ASSERT_TRUE(sync.Overlaps(*world));
  for (int step = 0; step < 2; ++step) {  // the hooks serve every step
    for (at::Tensor* p : {&b.w1, &b.w2, &b.w3})
      p->mutable_grad() = at::Tensor();
    SlotGradients slots({b.w1, b.w2, b.w3});
    for (int k = 0; k < 2; ++k) {
      b.Backward(k);
      slots.AddSlot();
    }
    sync.BeginLastSlot(*world, 3, &slots);
    b.Backward(2);
    ASSERT_TRUE(sync.FinishLastSlot(1, /*apply=*/true).ok());
    EXPECT_TRUE(at::equal(a.w1.grad(), b.w1.grad()));
    EXPECT_TRUE(at::equal(a.w2.grad(), b.w2.grad()));
    EXPECT_FALSE(b.w3.grad().defined());
  }
  // Once disarmed, a backward pass leaves the gradients to autograd.
  for (at::Tensor* p : {&b.w1, &b.w2}) p->mutable_grad() = at::Tensor();
  b.Backward(0);
  EXPECT_TRUE(b.w1.grad().defined());
}

}  // namespace
}  // namespace sam2::training
