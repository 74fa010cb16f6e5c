// Built only under --config=cuda. One rank (the single-process host world):
// every all-reduce and broadcast must leave the values as they were, which
// checks the dtype mapping, the contiguous-copy and stream paths and the
// NCCL calls themselves. The tests that need a GPU and a CUDA LibTorch are
// skipped without them; the error-path test runs everywhere.
#include "distributed/nccl_collectives.h"

#include <ATen/ATen.h>
#include <cuda_runtime.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <utility>
#include <vector>

#include "distributed/collectives.h"

namespace sam2::distributed {
namespace {

using ::testing::HasSubstr;

bool CanUseGpu() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return count > 0 && at::hasCUDA();
}

// A one-rank world that claims a local rank no node has a GPU for.
class NoSuchGpuHost final : public Collectives {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 99; }
  void AllReduceSum(std::vector<at::Tensor>&) override {}
  void Broadcast(at::Tensor&, int) override {}
  void Barrier() override {}
  [[noreturn]] void Abort(int exit_code) override { std::_Exit(exit_code); }
};

TEST(WithNcclTest, SaysWhichRankHasNoDevice) {
  auto world = WithNccl(std::make_unique<NoSuchGpuHost>());
  ASSERT_FALSE(world.ok());
  EXPECT_EQ(world.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(world.status().message(), HasSubstr("rank 0 (local rank 99, "));
  EXPECT_THAT(world.status().message(), HasSubstr("CUDA device(s))"));
}

class NcclCollectivesTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!CanUseGpu()) return;
    auto world = WithNccl(MakeSingleProcessCollectives());
    ASSERT_TRUE(world.ok()) << world.status();
    world_ = std::move(world).value();
  }
  // Before static destruction, while the CUDA runtime is still there.
  static void TearDownTestSuite() { world_.reset(); }

  void SetUp() override {
    if (!CanUseGpu()) GTEST_SKIP() << "needs a GPU and a CUDA LibTorch";
    ASSERT_NE(world_, nullptr);
  }

  static at::Tensor Cuda(const at::Tensor& t) { return t.to(at::kCUDA); }

  inline static std::unique_ptr<Collectives> world_;
};

TEST_F(NcclCollectivesTest, TakesItsRanksFromTheHost) {
  EXPECT_EQ(world_->rank(), 0);
  EXPECT_EQ(world_->world_size(), 1);
  EXPECT_EQ(world_->local_rank(), 0);
  EXPECT_EQ(world_->num_nodes(), 1);
  EXPECT_TRUE(world_->is_main());
}

TEST_F(NcclCollectivesTest, OneRankKeepsEveryDtype) {
  std::vector<at::Tensor> expected = {
      at::randn({257}, at::kFloat),
      at::randn({3, 5}, at::kDouble),
      at::randn({64}, at::kFloat).to(at::kHalf),
      at::randn({64}, at::kFloat).to(at::kBFloat16),
      at::randint(-1000, 1000, {33}, at::kLong),
      at::randint(-1000, 1000, {33}, at::kInt),
      at::randint(0, 256, {33}, at::kByte),
      at::randint(0, 2, {40}, at::kLong).to(at::kBool),
  };
  // All in one call (one NCCL group), then each on its own.
  std::vector<at::Tensor> together;
  for (const at::Tensor& e : expected) together.push_back(Cuda(e));
  world_->AllReduceSum(together);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(at::equal(together[i].cpu(), expected[i]))
        << expected[i].scalar_type();
    std::vector<at::Tensor> alone = {Cuda(expected[i])};
    world_->AllReduceSum(alone);
    EXPECT_TRUE(at::equal(alone[0].cpu(), expected[i]))
        << expected[i].scalar_type();
  }
}

TEST_F(NcclCollectivesTest, SeesWhatTheDefaultStreamWroteJustBefore) {
  at::Tensor t = at::zeros({1 << 20}, at::TensorOptions().device(at::kCUDA));
  t.add_(5);
  std::vector<at::Tensor> tensors = {t};
  world_->AllReduceSum(tensors);
  t.mul_(2);
  EXPECT_TRUE(at::equal(t.cpu(), at::full({1 << 20}, 10.0f)));
}

TEST_F(NcclCollectivesTest, NonContiguousTensorsGetTheirValuesBack) {
  const at::Tensor base = at::arange(24, at::kFloat).view({4, 6});
  at::Tensor on_gpu = Cuda(base);
  at::Tensor transposed = on_gpu.t();
  at::Tensor strided = Cuda(base).slice(1, 0, 6, 2);
  ASSERT_FALSE(transposed.is_contiguous());
  ASSERT_FALSE(strided.is_contiguous());
  std::vector<at::Tensor> tensors = {transposed, strided};
  world_->AllReduceSum(tensors);
  EXPECT_TRUE(at::equal(transposed.cpu(), base.t()));
  EXPECT_TRUE(at::equal(strided.cpu(), base.slice(1, 0, 6, 2)));
  // Written back in place: the view still aliases its base.
  EXPECT_TRUE(at::equal(on_gpu.cpu(), base));
}

TEST_F(NcclCollectivesTest, EmptyTensorsAreANoOp) {
  const at::Tensor values = at::randn({7});
  std::vector<at::Tensor> tensors = {
      at::empty({0}, at::TensorOptions().device(at::kCUDA)),
      at::empty({3, 0}, at::TensorOptions().device(at::kCUDA).dtype(at::kLong)),
      Cuda(values)};
  world_->AllReduceSum(tensors);
  EXPECT_EQ(tensors[0].numel(), 0);
  EXPECT_EQ(tensors[1].sizes(), at::IntArrayRef({3, 0}));
  EXPECT_TRUE(at::equal(tensors[2].cpu(), values));
  std::vector<at::Tensor> only_empty = {
      at::empty({0}, at::TensorOptions().device(at::kCUDA))};
  world_->AllReduceSum(only_empty);
  world_->StartAllReduceSum(only_empty)->Wait();
}

TEST_F(NcclCollectivesTest, LargeTensor) {
  // 28 MiB: larger than a typical 25 MB gradient bucket.
  const at::Tensor values = at::randn({7 << 20});
  std::vector<at::Tensor> tensors = {Cuda(values)};
  world_->AllReduceSum(tensors);
  EXPECT_TRUE(at::equal(tensors[0].cpu(), values));
}

TEST_F(NcclCollectivesTest, StartThenWait) {
  const at::Tensor a = at::randn({1 << 16});
  const at::Tensor b = at::arange(30, at::kDouble).view({5, 6});
  at::Tensor on_gpu_a = Cuda(a);
  at::Tensor on_gpu_b = Cuda(b);
  std::unique_ptr<Collectives::Pending> pending =
      world_->StartAllReduceSum({on_gpu_a, on_gpu_b.t()});
  // Unrelated default-stream work may run meanwhile.
  at::Tensor other = Cuda(at::ones({1000})).mul_(3);
  pending->Wait();
  pending->Wait();  // A second Wait() does nothing.
  EXPECT_TRUE(at::equal(on_gpu_a.cpu(), a));
  EXPECT_TRUE(at::equal(on_gpu_b.cpu(), b));
  EXPECT_TRUE(at::equal(other.cpu(), at::full({1000}, 3.0f)));
}

TEST_F(NcclCollectivesTest, DroppedHandleStillOrdersTheDefaultStream) {
  const at::Tensor values = at::randn({4, 8});
  at::Tensor t = Cuda(values);
  world_->StartAllReduceSum({t.t()}).reset();
  EXPECT_TRUE(at::equal(t.cpu(), values));
}

TEST_F(NcclCollectivesTest, CpuTensorsGoToTheHost) {
  const at::Tensor values = at::randn({9});
  at::Tensor cpu = values.clone();
  std::vector<at::Tensor> tensors = {cpu, Cuda(values)};
  world_->AllReduceSum(tensors);
  EXPECT_TRUE(at::equal(cpu, values));
  EXPECT_TRUE(at::equal(tensors[1].cpu(), values));
  world_->Broadcast(cpu, 0);
  EXPECT_TRUE(at::equal(cpu, values));
}

TEST_F(NcclCollectivesTest, Mean) {
  const at::Tensor values = at::randn({17});
  std::vector<at::Tensor> tensors = {Cuda(values)};
  world_->AllReduceMean(tensors);
  EXPECT_TRUE(at::equal(tensors[0].cpu(), values));
}

TEST_F(NcclCollectivesTest, Broadcast) {
  const at::Tensor values = at::randn({3, 1000});
  at::Tensor t = Cuda(values);
  world_->Broadcast(t, 0);
  EXPECT_TRUE(at::equal(t.cpu(), values));
  at::Tensor base = Cuda(values);
  at::Tensor transposed = base.t();
  world_->Broadcast(transposed, 0);
  EXPECT_TRUE(at::equal(base.cpu(), values));
  at::Tensor flags = Cuda(at::randint(0, 2, {50}, at::kLong).to(at::kBool));
  const at::Tensor flags_before = flags.cpu();
  world_->Broadcast(flags, 0);
  EXPECT_TRUE(at::equal(flags.cpu(), flags_before));
}

TEST_F(NcclCollectivesTest, BarrierAfterCollectives) {
  world_->SetTimeoutSeconds(60);
  std::vector<at::Tensor> tensors = {Cuda(at::randn({1 << 20}))};
  auto pending = world_->StartAllReduceSum(tensors);
  world_->Barrier();
  pending->Wait();
  world_->Barrier();
  world_->SetTimeoutSeconds(0);
}

TEST_F(NcclCollectivesTest, RejectsWhatNcclCannotSum) {
  std::vector<at::Tensor> complex = {
      Cuda(at::randn({4}, at::TensorOptions().dtype(at::kComplexFloat)))};
  EXPECT_THROW(world_->AllReduceSum(complex), c10::Error);
  // The rejected call left nothing half done.
  const at::Tensor values = at::randn({5});
  std::vector<at::Tensor> fine = {Cuda(values)};
  world_->AllReduceSum(fine);
  EXPECT_TRUE(at::equal(fine[0].cpu(), values));
}

}  // namespace
}  // namespace sam2::distributed
