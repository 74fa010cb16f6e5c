#include "distributed/collectives.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>

namespace sam2::distributed {
namespace {

// A fake world of N ranks whose "sum" multiplies by N: checks that
// AllReduceMean divides by the world size exactly once.
class ReplicatedWorld final : public Collectives {
 public:
  explicit ReplicatedWorld(int n) : n_(n) {}
  int rank() const override { return 0; }
  int world_size() const override { return n_; }
  int local_rank() const override { return 0; }
  void AllReduceSum(std::vector<at::Tensor>& tensors) override {
    for (at::Tensor& t : tensors) t.mul_(n_);
  }
  void Broadcast(at::Tensor&, int) override {}
  void Barrier() override {}
  [[noreturn]] void Abort(int) override { std::abort(); }

 private:
  int n_;
};

TEST(CollectivesTest, SingleProcessIsIdentity) {
  std::unique_ptr<Collectives> c = MakeSingleProcessCollectives();
  EXPECT_EQ(c->world_size(), 1);
  EXPECT_TRUE(c->is_main());
  std::vector<at::Tensor> tensors = {at::arange(4, at::kFloat)};
  c->AllReduceMean(tensors);
  EXPECT_TRUE(at::equal(tensors[0], at::arange(4, at::kFloat)));
}

TEST(CollectivesTest, MeanOfReplicatedTensorsIsTheTensor) {
  ReplicatedWorld world(4);
  std::vector<at::Tensor> tensors = {at::full({3}, 2.5f)};
  world.AllReduceMean(tensors);
  EXPECT_TRUE(at::allclose(tensors[0], at::full({3}, 2.5f)));
}

}  // namespace
}  // namespace sam2::distributed
