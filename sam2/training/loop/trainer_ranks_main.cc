// Run under mpirun -np 2 by trainer_ranks_test.sh. Checks, on real ranks:
//  - DDP's find_unused_parameters semantics of GradientSync: a parameter used
//    on every rank gets the mean; one used on rank 0 only gets rank 0's
//    gradient / 2 (zeros from rank 1); one used nowhere keeps no gradient;
//    without find_unused_parameters both unused ones are an error on every
//    rank, named;
//  - the overlapped sync (from gradient hooks) equals the sequential one;
//  - the trainer's finite vote: a non-finite loss on rank 1 alone makes both
//    ranks skip that update, and the ranks end with identical weights.
// Prints "rank R: ok" or the failures and exits 1.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/nn/modules/linear.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "distributed/mpi_world.h"
#include "sam2/training/loop/gradient_sync.h"
#include "sam2/training/loop/trainer.h"

namespace sam2::training {
namespace {

int failures = 0;
void Expect(bool ok, int rank, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "rank %d: FAILED %s\n", rank, what.c_str());
    ++failures;
  }
}

at::Tensor Grad(int rank, int which) {
  return at::sin(at::arange(6, at::kFloat) * (0.3f + 0.2f * rank + which));
}

void CheckUnusedParameters(distributed::Collectives& world) {
  const int rank = world.rank();
  at::Tensor a = at::zeros({6}).set_requires_grad(true);
  at::Tensor b = at::zeros({6}).set_requires_grad(true);
  at::Tensor c = at::zeros({6}).set_requires_grad(true);
  auto fill = [&] {
    a.mutable_grad() = Grad(rank, 0);
    b.mutable_grad() = rank == 0 ? Grad(rank, 1) : at::Tensor();
    c.mutable_grad() = at::Tensor();
  };
  fill();
  GradientSyncOptions lenient;
  lenient.find_unused_parameters = true;
  GradientSync sync({{"a", a}, {"b", b}, {"c", c}}, lenient);
  const absl::Status s = sync.Average(world, 2, 1);
  Expect(s.ok(), rank, "find_unused_parameters: " + std::string(s.message()));
  Expect(at::equal(a.grad(), (Grad(0, 0) + Grad(1, 0)) / 2), rank,
         "used everywhere: the mean");
  Expect(b.grad().defined() && at::equal(b.grad(), Grad(0, 1) / 2), rank,
         "used on rank 0 only: rank 0's gradient / 2");
  Expect(!c.grad().defined(), rank, "used nowhere: no gradient");

  fill();
  GradientSync strict({{"a", a}, {"b", b}, {"c", c}}, {});
  const absl::Status e = strict.Average(world, 2, 9);
  const std::string m(e.message());
  Expect(!e.ok() && m.find("step 9: 2 trainable parameter(s) received no "
                           "gradient on at least one rank (b, c)") !=
                        std::string::npos,
         rank, "strict: " + m);
}

// The overlapped sync (buckets all-reduced from the gradient hooks during
// the last slot's backward pass, as on NCCL) equals the sequential one,
// bitwise, on real ranks; w2 is unused in rank 1's last slot, w3 everywhere.
void CheckOverlap(distributed::Collectives& world) {
  const int rank = world.rank();
  struct Params {
    at::Tensor w1 = at::linspace(-1, 1, 64).set_requires_grad(true);
    at::Tensor w2 = at::linspace(0.5, 2, 64).set_requires_grad(true);
    at::Tensor w3 = at::zeros({64}).set_requires_grad(true);
  };
  auto backward = [&](Params& p, int slot) {
    const at::Tensor x =
        at::sin(at::arange(64, at::kFloat) * (1.0 + slot + 0.37 * rank));
    at::Tensor loss = (p.w1 * x).pow(2).sum() * 1e3;
    if (!(rank == 1 && slot == 1)) loss = loss + (p.w2 * x * p.w1).sum();
    loss.backward();
  };
  GradientSyncOptions options;
  options.find_unused_parameters = true;
  options.bucket_bytes = 256;  // one bucket per parameter
  Params a, b;
  {
    SlotGradients slots({a.w1, a.w2, a.w3});
    for (int k = 0; k < 2; ++k) {
      backward(a, k);
      slots.AddSlot();
    }
    slots.Finish();
    GradientSync sync({{"w1", a.w1}, {"w2", a.w2}, {"w3", a.w3}}, options);
    Expect(sync.Average(world, 4, 1).ok(), rank, "sequential sync");
  }
  options.overlap = true;
  GradientSync sync({{"w1", b.w1}, {"w2", b.w2}, {"w3", b.w3}}, options);
  SlotGradients slots({b.w1, b.w2, b.w3});
  backward(b, 0);
  slots.AddSlot();
  sync.BeginLastSlot(world, 4, &slots);
  backward(b, 1);
  Expect(sync.FinishLastSlot(1, true).ok(), rank, "overlapped sync");
  Expect(at::equal(a.w1.grad(), b.w1.grad()), rank, "overlapped w1");
  Expect(at::equal(a.w2.grad(), b.w2.grad()), rank, "overlapped w2");
  Expect(!b.w3.grad().defined(), rank, "overlapped w3 unused");
}

// A linear model on constant inputs; rank 1's loss is NaN in its 2nd step.
class Task : public TrainTask {
 public:
  explicit Task(int rank) : rank_(rank) { at::manual_seed(3); }
  torch::nn::Module& model() override { return *net_; }
  void SeedStep(uint64_t) override {}
  absl::StatusOr<LossDict> Forward(
      const data::BatchedVideoDatapoint& batch) override {
    at::Tensor loss = net_->forward(batch.img_batch.view({1, -1})).pow(2).sum();
    if (rank_ == 1 && forwards_++ == 1) loss = loss * std::nan("");
    return LossDict{{kCoreLoss, loss}};
  }

 private:
  int rank_;
  int forwards_ = 0;
  torch::nn::Linear net_{torch::nn::Linear(4, 1)};
};

class Sgd : public TrainOptimizer {
 public:
  explicit Sgd(torch::nn::Module& m) : params_(m.parameters()) {}
  void ZeroGrad() override {
    for (auto& p : params_) p.mutable_grad() = at::Tensor();
  }
  void SetProgress(double) override {}
  double ClipGradients() override { return 0; }
  void Step() override {
    c10::NoGradGuard no_grad;
    for (auto& p : params_) {
      if (p.grad().defined()) p.sub_(0.1 * p.grad());
    }
    ++steps;
  }
  std::vector<at::Tensor> Parameters() override { return params_; }
  std::vector<std::pair<std::string, double>> HyperParameters() const override {
    return {};
  }
  NamedTensors State() const override { return {}; }
  absl::Status LoadState(const NamedTensors&) override {
    return absl::OkStatus();
  }
  int steps = 0;

 private:
  std::vector<at::Tensor> params_;
};

class Data : public BatchSource {
 public:
  explicit Data(int rank) : rank_(rank) {}
  int64_t batches_per_epoch() const override { return 4; }
  absl::Status Start(int64_t, int64_t first) override {
    next_ = first;
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<data::BatchedVideoDatapoint>> Next() override {
    if (next_ >= 4) return std::optional<data::BatchedVideoDatapoint>();
    data::BatchedVideoDatapoint b;
    b.img_batch = at::full({1, 1, 4}, 0.1f * (++next_ + rank_));
    return std::optional<data::BatchedVideoDatapoint>(std::move(b));
  }

 private:
  int rank_;
  int64_t next_ = 0;
};

void CheckFiniteVote(distributed::Collectives& world, const std::string& dir) {
  const int rank = world.rank();
  Task task(rank);
  Sgd sgd(task.model());
  Data data(rank);
  auto log = RunLog::Open(dir + "/rank" + std::to_string(rank), rank);
  if (!log.ok()) {
    Expect(false, rank, "run log");
    return;
  }
  TrainerOptions options;
  options.mode = config::TrainerMode::kTrainOnly;
  options.max_epochs = 1;
  TrainerParts parts;
  parts.task = &task;
  parts.optimizer = &sgd;
  parts.train_data = &data;
  parts.log = log->get();
  parts.collectives = &world;
  Trainer trainer(options, parts);
  const absl::Status s = trainer.Run();
  Expect(s.ok(), rank, "trainer: " + std::string(s.message()));
  Expect(trainer.state().step == 4, rank, "4 steps");
  Expect(trainer.state().nonfinite_skipped == 1, rank,
         "one skipped step on every rank");
  Expect(sgd.steps == 3, rank, "3 updates on every rank");
  // Identical weights on both ranks.
  for (at::Tensor& p : task.model().parameters()) {
    at::Tensor theirs = p.detach().clone();
    world.Broadcast(theirs, 0);
    Expect(at::equal(theirs, p.detach()), rank, "weights equal rank 0's");
  }
}

}  // namespace
}  // namespace sam2::training

int main(int argc, char** argv) {
  auto created = sam2::distributed::InitWorld();
  if (!created.ok() || argc < 2) {
    std::fprintf(stderr, "usage: mpirun -np 2 trainer_ranks_main DIR\n");
    return 1;
  }
  sam2::distributed::Collectives& world = **created;
  sam2::training::CheckUnusedParameters(world);
  sam2::training::CheckOverlap(world);
  sam2::training::CheckFiniteVote(world, argv[1]);
  if (sam2::training::failures == 0) std::printf("rank %d: ok\n", world.rank());
  return sam2::training::failures == 0 ? 0 : 1;
}
