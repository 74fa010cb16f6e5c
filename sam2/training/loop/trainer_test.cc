// The training loop on toy parts: a small MLP with dropout, deterministic
// batches, SGD with momentum, and a plain binary checkpoint store. Checks
// learning, exact resume after a kill, gradient accumulation, non-finite
// loss skipping, atomic checkpoints and the log files.
#include "sam2/training/loop/trainer.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/testing/temp_dir.h"

namespace sam2::training {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kSide = 4;

using ::sam2::testutil::FreshTempDir;
using ::sam2::testutil::TestTmpRoot;

// Batch `index` of `epoch`: `videos` videos whose pixels are a fixed
// function of (video id); the target of a video is the mean of its mask.
data::BatchedVideoDatapoint MakeBatch(int64_t first_video, int64_t videos) {
  data::BatchedVideoDatapoint batch;
  batch.img_batch = at::empty({1, videos, 3, kSide, kSide});
  batch.masks = at::empty({1, videos, kSide, kSide}, at::kBool);
  batch.obj_to_frame_idx = at::zeros({1, videos, 2}, at::kInt);
  batch.metadata.unique_objects_identifier =
      at::zeros({1, videos, 3}, at::kLong);
  for (int64_t v = 0; v < videos; ++v) {
    const int64_t id = first_video + v;
    const at::Tensor grid = at::arange(3 * kSide * kSide, at::kFloat);
    batch.img_batch[0][v] =
        at::sin(grid * (0.1 + 0.01 * (id % 13))).view({3, kSide, kSide});
    batch.masks[0][v] =
        (at::cos(grid.slice(0, 0, kSide * kSide) * (0.2 + 0.03 * (id % 7))) > 0)
            .view({kSide, kSide});
    batch.metadata.unique_objects_identifier[0][v][0] = id;
    batch.obj_to_frame_idx[0][v][1] = static_cast<int>(v);
  }
  batch.dict_key = "all";
  return batch;
}

class ToyData : public BatchSource {
 public:
  ToyData(int64_t batches, int64_t batch_size)
      : batches_(batches), batch_size_(batch_size) {}
  int64_t batches_per_epoch() const override { return batches_; }
  absl::Status Start(int64_t epoch, int64_t first_batch) override {
    epoch_ = epoch;
    next_ = first_batch;
    return absl::OkStatus();
  }
  absl::StatusOr<std::optional<data::BatchedVideoDatapoint>> Next() override {
    if (next_ >= batches_) return std::optional<data::BatchedVideoDatapoint>();
    // Epochs visit the videos in a different (but fixed) order.
    const int64_t index = (next_++ * 7 + epoch_ * 3) % batches_;
    return std::optional<data::BatchedVideoDatapoint>(
        MakeBatch(index * batch_size_, batch_size_));
  }

 private:
  int64_t batches_, batch_size_;
  int64_t epoch_ = 0, next_ = 0;
};

class ToyTask : public TrainTask {
 public:
  explicit ToyTask(double dropout, uint64_t init_seed = 0) {
    at::manual_seed(init_seed);
    net_ = torch::nn::Sequential(torch::nn::Linear(3 * kSide * kSide, 16),
                                 torch::nn::ReLU(), torch::nn::Dropout(dropout),
                                 torch::nn::Linear(16, 1));
  }
  torch::nn::Module& model() override { return *net_; }
  void SeedStep(uint64_t seed) override { rng_.seed(seed); }
  absl::StatusOr<LossDict> Forward(
      const data::BatchedVideoDatapoint& batch) override {
    const int64_t videos = batch.img_batch.size(1);
    // Input noise from the task's own generator, as prompt simulation draws.
    std::normal_distribution<float> noise(0.f, noise_std);
    at::Tensor input = batch.img_batch[0].reshape({videos, -1}).clone();
    input.add_(noise(rng_));
    const at::Tensor prediction = net_->forward(input).squeeze(1);
    const at::Tensor target =
        batch.masks[0].reshape({videos, -1}).to(at::kFloat).mean(1);
    at::Tensor loss = (prediction - target).pow(2).mean();
    const at::Tensor ids = batch.metadata.unique_objects_identifier;
    for (int64_t v = 0; v < videos; ++v) {
      const int64_t id = ids[0][v][0].item<int64_t>();
      if (nan_videos.count(id)) loss = loss * std::nan("");
      // A LibTorch error, as a shape mismatch deep in a model would raise.
      if (throw_videos.count(id)) (void)at::matmul(input, input);
    }
    return LossDict{{kCoreLoss, loss}, {"loss_mse", loss.detach()}};
  }

  std::set<int64_t> nan_videos;
  std::set<int64_t> throw_videos;
  float noise_std = 0.01f;

 private:
  torch::nn::Sequential net_{nullptr};
  std::mt19937_64 rng_;
};

// SGD with momentum and lr = base * (1 - where).
class ToySgd : public TrainOptimizer {
 public:
  ToySgd(torch::nn::Module& model, double base_lr) : base_lr_(base_lr) {
    for (const auto& p : model.named_parameters()) params_.push_back(p);
    for (const auto& p : params_)
      momentum_.push_back(at::zeros_like(p.value()));
  }
  void ZeroGrad() override {
    for (auto& p : params_) p.value().mutable_grad() = at::Tensor();
  }
  void SetProgress(double where) override { lr_ = base_lr_ * (1 - where); }
  double ClipGradients() override {
    double sq = 0;
    for (auto& p : params_) {
      if (p.value().grad().defined()) {
        sq += p.value().grad().pow(2).sum().item<double>();
      }
    }
    return std::sqrt(sq);
  }
  void Step() override {
    c10::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {
      at::Tensor g = params_[i].value().grad();
      if (!g.defined()) continue;
      momentum_[i].mul_(0.9).add_(g);
      params_[i].value().sub_(lr_ * momentum_[i]);
    }
    ++steps;
  }
  std::vector<at::Tensor> Parameters() override {
    std::vector<at::Tensor> out;
    for (auto& p : params_) out.push_back(p.value());
    return out;
  }
  std::vector<std::pair<std::string, double>> HyperParameters() const override {
    return {{"0/lr", lr_}};
  }
  NamedTensors State() const override {
    NamedTensors state;
    for (size_t i = 0; i < params_.size(); ++i) {
      state.emplace_back("momentum." + params_[i].key(), momentum_[i].clone());
    }
    return state;
  }
  absl::Status LoadState(const NamedTensors& state) override {
    if (state.size() != params_.size()) {
      return absl::InvalidArgumentError("wrong optimizer state size");
    }
    for (size_t i = 0; i < state.size(); ++i)
      momentum_[i].copy_(state[i].second);
    return absl::OkStatus();
  }
  int64_t steps = 0;

 private:
  double base_lr_, lr_ = 0;
  std::vector<torch::OrderedDict<std::string, at::Tensor>::Item> params_;
  std::vector<at::Tensor> momentum_;
};

// name, dtype, shape and raw float/long bytes, one tensor after another.
class BinaryStore : public CheckpointStore {
 public:
  absl::Status Save(const std::string& path,
                    const TrainerCheckpoint& c) override {
    if (fail_saves) {
      std::ofstream(path) << "partial";
      return absl::DataLossError("disk full");
    }
    std::ofstream out(path, std::ios::binary);
    auto write_tensors = [&](const NamedTensors& tensors) {
      const int64_t n = tensors.size();
      out.write(reinterpret_cast<const char*>(&n), sizeof(n));
      for (const auto& [name, t] : tensors) {
        const int64_t len = name.size();
        out.write(reinterpret_cast<const char*>(&len), sizeof(len));
        out.write(name.data(), len);
        const at::Tensor f = t.contiguous().to(at::kFloat);
        const int64_t dims = f.dim();
        out.write(reinterpret_cast<const char*>(&dims), sizeof(dims));
        for (int64_t d : f.sizes()) {
          out.write(reinterpret_cast<const char*>(&d), sizeof(d));
        }
        out.write(reinterpret_cast<const char*>(f.data_ptr<float>()),
                  f.numel() * sizeof(float));
      }
    };
    write_tensors(c.model);
    write_tensors(c.optimizer);
    for (int64_t v :
         {c.epoch, c.next_batch, c.step, c.val_step, c.nonfinite_skipped}) {
      out.write(reinterpret_cast<const char*>(&v), sizeof(v));
    }
    out.write(reinterpret_cast<const char*>(&c.time_elapsed), sizeof(double));
    ++saves;
    return out ? absl::OkStatus() : absl::InternalError("write failed");
  }
  absl::StatusOr<TrainerCheckpoint> Load(const std::string& path) override {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError(path);
    TrainerCheckpoint c;
    auto read_tensors = [&](NamedTensors* tensors) {
      int64_t n = 0;
      in.read(reinterpret_cast<char*>(&n), sizeof(n));
      for (int64_t i = 0; i < n && in; ++i) {
        int64_t len = 0, dims = 0;
        in.read(reinterpret_cast<char*>(&len), sizeof(len));
        std::string name(len, '\0');
        in.read(name.data(), len);
        in.read(reinterpret_cast<char*>(&dims), sizeof(dims));
        std::vector<int64_t> shape(dims);
        for (int64_t& d : shape)
          in.read(reinterpret_cast<char*>(&d), sizeof(d));
        at::Tensor t = at::empty(shape, at::kFloat);
        in.read(reinterpret_cast<char*>(t.data_ptr<float>()),
                t.numel() * sizeof(float));
        tensors->emplace_back(name, t);
      }
    };
    read_tensors(&c.model);
    read_tensors(&c.optimizer);
    for (int64_t* v : {&c.epoch, &c.next_batch, &c.step, &c.val_step,
                       &c.nonfinite_skipped}) {
      in.read(reinterpret_cast<char*>(v), sizeof(*v));
    }
    in.read(reinterpret_cast<char*>(&c.time_elapsed), sizeof(double));
    if (!in) return absl::DataLossError("truncated checkpoint " + path);
    return c;
  }
  bool fail_saves = false;
  int saves = 0;
};

struct ToyRun {
  std::string dir;
  std::unique_ptr<RunLog> log;
  distributed::SingleProcessCollectives world;
  BinaryStore store;
  std::unique_ptr<ToyTask> task;
  std::unique_ptr<ToySgd> sgd;
  std::unique_ptr<ToyData> train;
  std::unique_ptr<ToyData> val;
  TrainerOptions options;

  ToyRun(const std::string& name, double dropout, uint64_t init_seed,
         int64_t batches = 6, int64_t batch_size = 2, bool fresh = true)
      : dir(fresh ? FreshTempDir(name) : TestTmpRoot() + "/" + name) {
    log = *RunLog::Open(dir + "/logs", 0);
    task = std::make_unique<ToyTask>(dropout, init_seed);
    sgd = std::make_unique<ToySgd>(task->model(), 0.05);
    train = std::make_unique<ToyData>(batches, batch_size);
    val = std::make_unique<ToyData>(2, 2);
    options.mode = config::TrainerMode::kTrain;
    options.max_epochs = 3;
    options.seed_value = 7;
    options.log_freq = 5;
    options.checkpoint_dir = dir + "/checkpoints";
  }
  TrainerParts Parts() {
    TrainerParts parts;
    parts.task = task.get();
    parts.optimizer = sgd.get();
    parts.train_data = train.get();
    parts.val_data = val.get();
    parts.checkpoints = &store;
    parts.log = log.get();
    parts.collectives = &world;
    return parts;
  }
  std::vector<at::Tensor> Weights() {
    std::vector<at::Tensor> w;
    for (const auto& p : task->model().parameters()) w.push_back(p.clone());
    return w;
  }
};

// The file's text; "" when it does not exist.
std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void ExpectSameWeights(const std::vector<at::Tensor>& a,
                       const std::vector<at::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(at::equal(a[i], b[i])) << "parameter " << i;
  }
}

TEST(TrainerTest, LearnsAndWritesLogsAndCheckpoints) {
  ToyRun run("learns", /*dropout=*/0.0, /*init_seed=*/1);
  run.options.max_epochs = 8;
  run.options.save_freq = 4;
  Trainer trainer(run.options, run.Parts());
  ASSERT_TRUE(trainer.Run().ok());
  const std::vector<double>& losses = trainer.step_losses();
  ASSERT_EQ(losses.size(), 8u * 6u);
  const double first = (losses[0] + losses[1] + losses[2]) / 3;
  const double last = (losses[45] + losses[46] + losses[47]) / 3;
  EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
  EXPECT_EQ(trainer.state().epoch, 8);
  EXPECT_EQ(trainer.state().step, 48);
  namespace fs = std::filesystem;
  EXPECT_TRUE(fs::exists(run.dir + "/checkpoints/checkpoint.pt"));
  EXPECT_TRUE(fs::exists(run.dir + "/checkpoints/checkpoint_4.pt"));
  EXPECT_TRUE(fs::exists(run.dir + "/checkpoints/checkpoint_8.pt"));
  EXPECT_FALSE(fs::exists(run.dir + "/checkpoints/checkpoint_3.pt"));
  const std::string log = Read(run.dir + "/logs/log.txt");
  EXPECT_THAT(log, HasSubstr("Train Epoch: [0]"));
  EXPECT_THAT(log, HasSubstr("ETA "));
  EXPECT_THAT(log, HasSubstr("Samples/s "));
  // One train_stats line per epoch; val after intermediate epochs and at the
  // end ("train" mode).
  const std::string train_stats = Read(run.dir + "/logs/train_stats.json");
  EXPECT_EQ(std::count(train_stats.begin(), train_stats.end(), '\n'), 8);
  EXPECT_THAT(train_stats, HasSubstr("\"Losses/train_all_core_loss\""));
  const std::string val_stats = Read(run.dir + "/logs/val_stats.json");
  EXPECT_EQ(std::count(val_stats.begin(), val_stats.end(), '\n'), 8);
}

// A run killed after step 8 and resumed (with a differently initialised
// model, as a new process would have) ends with the same losses and weights
// as an uninterrupted run, whether the kill came right after a checkpoint or
// between two.
class ResumeTest : public ::testing::TestWithParam<int> {};

TEST_P(ResumeTest, ResumedRunEqualsUninterruptedRun) {
  const int save_every = GetParam();
  ToyRun full("full", /*dropout=*/0.3, /*init_seed=*/1);
  full.options.save_every_steps = save_every;
  Trainer uninterrupted(full.options, full.Parts());
  ASSERT_TRUE(uninterrupted.Run().ok());

  ToyRun killed("killed", 0.3, 1);
  killed.options.save_every_steps = save_every;
  killed.options.stop_after_steps = 8;
  Trainer first(killed.options, killed.Parts());
  ASSERT_TRUE(first.Run().ok());
  ASSERT_EQ(first.state().step, 8);

  ToyRun resumed("killed", 0.3, /*init_seed=*/99, 6, 2, /*fresh=*/false);
  resumed.options.save_every_steps = save_every;
  Trainer second(resumed.options, resumed.Parts());
  ASSERT_TRUE(second.Run().ok());
  EXPECT_EQ(second.state().step, 18);

  // Steps since the last checkpoint are redone identically.
  const int64_t resumed_from = (8 / save_every) * save_every;
  const std::vector<double>& all = uninterrupted.step_losses();
  const std::vector<double>& tail = second.step_losses();
  ASSERT_EQ(tail.size(), all.size() - resumed_from);
  for (size_t i = 0; i < tail.size(); ++i) {
    EXPECT_EQ(tail[i], all[resumed_from + i]) << "step " << resumed_from + i;
  }
  ExpectSameWeights(resumed.Weights(), full.Weights());
  EXPECT_THAT(Read(resumed.dir + "/logs/log.txt"), HasSubstr("Resuming from"));
}

INSTANTIATE_TEST_SUITE_P(CheckpointEvery, ResumeTest, ::testing::Values(1, 3));

// A stop request (SIGUSR1 before a preemption) at step k: checkpoint in
// step, stop, and a resumed run ends with the uninterrupted weights; k = 6
// is the last step of epoch 0, where the epoch is finished (and validated
// on resume) first.
class StopRequestTest : public ::testing::TestWithParam<int> {};

TEST_P(StopRequestTest, CheckpointsStopsAndResumesExactly) {
  const int stop_at = GetParam();
  ToyRun full("stop_full", /*dropout=*/0.3, /*init_seed=*/1);
  Trainer uninterrupted(full.options, full.Parts());
  ASSERT_TRUE(uninterrupted.Run().ok());

  ToyRun stopped("stopped", 0.3, 1);
  TrainerParts parts = stopped.Parts();
  int64_t calls = 0;
  // Asked during step `stop_at` (polled once per step, at its end).
  parts.stop_requested = [&] { return ++calls == stop_at ? 10 : 0; };
  Trainer first(stopped.options, parts);
  ASSERT_TRUE(first.Run().ok());
  EXPECT_TRUE(first.preempted());
  EXPECT_EQ(first.state().step, stop_at);
  EXPECT_THAT(first.stop_reason(), HasSubstr("signal 10"));
  const std::string log = Read(stopped.dir + "/logs/log.txt");
  EXPECT_THAT(log, HasSubstr(stop_at == 6 ? "Stopping after epoch 0"
                                          : "Stopping at step 2"));

  ToyRun resumed("stopped", 0.3, /*init_seed=*/99, 6, 2, /*fresh=*/false);
  Trainer second(resumed.options, resumed.Parts());
  ASSERT_TRUE(second.Run().ok());
  EXPECT_FALSE(second.preempted());
  EXPECT_EQ(second.state().step, 18);
  ExpectSameWeights(resumed.Weights(), full.Weights());
  EXPECT_THAT(
      Read(resumed.dir + "/logs/log.txt"),
      HasSubstr(absl::StrCat(
          "Resuming from ", resumed.dir, "/checkpoints/checkpoint.pt at epoch ",
          stop_at == 6 ? 1 : 0, ", batch ", stop_at == 6 ? 0 : 2)));
}

INSTANTIATE_TEST_SUITE_P(AtStep, StopRequestTest, ::testing::Values(2, 6));

TEST(TrainerTest, ExitAfterSecondsCheckpointsAndStops) {
  ToyRun run("exit_after", 0.0, 1);
  run.options.exit_after_seconds = 1e-9;  // at the first step boundary
  Trainer trainer(run.options, run.Parts());
  ASSERT_TRUE(trainer.Run().ok());
  EXPECT_TRUE(trainer.preempted());
  EXPECT_EQ(trainer.state().step, 1);
  EXPECT_THAT(trainer.stop_reason(), HasSubstr("trainer.exit_after_minutes"));
  EXPECT_TRUE(std::filesystem::exists(run.dir + "/checkpoints/checkpoint.pt"));
}

// Mixed precision's loss scaling: a power-of-two scale changes no weight,
// and steps whose gradients overflow are skipped.
TEST(TrainerTest, LossScalingIsExactAndSkipsOverflowingSteps) {
  ToyRun plain("plain", /*dropout=*/0.0, 1);
  plain.options.mode = config::TrainerMode::kTrainOnly;
  plain.options.max_epochs = 1;
  Trainer plain_trainer(plain.options, plain.Parts());
  ASSERT_TRUE(plain_trainer.Run().ok());

  ToyRun scaled("scaled", 0.0, 1);
  scaled.options = plain.options;
  scaled.options.checkpoint_dir = scaled.dir + "/checkpoints";
  optim::GradScaler scaler;
  TrainerParts parts = scaled.Parts();
  parts.grad_scaler = &scaler;
  Trainer scaled_trainer(scaled.options, parts);
  ASSERT_TRUE(scaled_trainer.Run().ok());
  EXPECT_EQ(scaled_trainer.step_losses(), plain_trainer.step_losses());
  ExpectSameWeights(scaled.Weights(), plain.Weights());
  EXPECT_EQ(scaler.growth_tracker(), 6);

  ToyRun overflow("overflow", 0.0, 1);
  overflow.options = plain.options;
  overflow.options.checkpoint_dir = overflow.dir + "/checkpoints";
  const std::vector<at::Tensor> initial = overflow.Weights();
  optim::GradScalerOptions huge;
  huge.init_scale = INFINITY;  // every scaled gradient overflows
  optim::GradScaler overflowing(huge);
  parts = overflow.Parts();
  parts.grad_scaler = &overflowing;
  Trainer overflow_trainer(overflow.options, parts);
  ASSERT_TRUE(overflow_trainer.Run().ok());
  EXPECT_EQ(overflow_trainer.state().step, 6);
  ExpectSameWeights(overflow.Weights(), initial);  // every update skipped
  EXPECT_EQ(overflowing.growth_tracker(), 0);
  const std::string log = Read(overflow.dir + "/logs/log.txt");
  EXPECT_THAT(log, HasSubstr("gradient overflow at step 0"));
  EXPECT_THAT(log, HasSubstr("gradient overflow at step 5"));
}

TEST(TrainerTest, AccumulationEqualsOneBigBatch) {
  ToyRun big("big", /*dropout=*/0.0, 1, /*batches=*/4, /*batch_size=*/2);
  big.options.mode = config::TrainerMode::kTrainOnly;
  big.options.max_epochs = 1;
  big.task->noise_std = 0;
  Trainer big_trainer(big.options, big.Parts());
  ASSERT_TRUE(big_trainer.Run().ok());

  // Same videos in batches of 1, two per step.
  ToyRun small("small", 0.0, 1, /*batches=*/8, /*batch_size=*/1);
  small.options.mode = config::TrainerMode::kTrainOnly;
  small.options.max_epochs = 1;
  small.options.gradient_accumulation_steps = 2;
  // One noise draw per micro-batch would differ from one per big batch.
  small.task->noise_std = 0;
  // Visit the videos in the big run's order: batch i of size 2 holds videos
  // 2*perm(i), 2*perm(i)+1.
  class Pairs : public BatchSource {
   public:
    int64_t batches_per_epoch() const override { return 8; }
    absl::Status Start(int64_t, int64_t first) override {
      next_ = first;
      return absl::OkStatus();
    }
    absl::StatusOr<std::optional<data::BatchedVideoDatapoint>> Next() override {
      if (next_ >= 8) return std::optional<data::BatchedVideoDatapoint>();
      const int64_t big_index = ((next_ / 2) * 7) % 4;
      const int64_t video = big_index * 2 + next_ % 2;
      ++next_;
      return std::optional<data::BatchedVideoDatapoint>(MakeBatch(video, 1));
    }

   private:
    int64_t next_ = 0;
  } pairs;
  TrainerParts parts = small.Parts();
  parts.train_data = &pairs;
  Trainer small_trainer(small.options, parts);
  ASSERT_TRUE(small_trainer.Run().ok());
  EXPECT_EQ(small_trainer.state().step, 4);
  EXPECT_EQ(small.sgd->steps, 4);
  const std::vector<at::Tensor> a = big.Weights(), b = small.Weights();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(at::allclose(a[i], b[i], 1e-5, 1e-6)) << "parameter " << i;
  }
}

TEST(TrainerTest, NonFiniteLossSkipsTheUpdate) {
  ToyRun run("nan", /*dropout=*/0.0, 1);
  run.options.mode = config::TrainerMode::kTrainOnly;
  run.options.max_epochs = 1;
  run.task->nan_videos = {4};  // in batch 2 (videos 4, 5)
  Trainer trainer(run.options, run.Parts());
  ASSERT_TRUE(trainer.Run().ok());
  EXPECT_EQ(trainer.state().step, 6);
  EXPECT_EQ(trainer.state().nonfinite_skipped, 1);
  EXPECT_EQ(run.sgd->steps, 5);
  for (const auto& p : run.task->model().parameters()) {
    EXPECT_TRUE(at::isfinite(p).all().item<bool>());
  }
  EXPECT_THAT(Read(run.dir + "/logs/log.txt"),
              HasSubstr("non-finite loss at step"));
  EXPECT_THAT(Read(run.dir + "/logs/log.txt"), HasSubstr("videos 4,5"));
}

TEST(TrainerTest, TooManyNonFiniteLossesAbort) {
  ToyRun run("nan_abort", 0.0, 1);
  run.options.max_consecutive_nonfinite_losses = 3;
  for (int64_t v = 0; v < 12; ++v) run.task->nan_videos.insert(v);
  Trainer trainer(run.options, run.Parts());
  absl::Status status = trainer.Run();
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(std::string(status.message()), HasSubstr("3 non-finite losses"));
}

TEST(TrainerTest, FailedCheckpointWriteKeepsThePreviousOne) {
  ToyRun run("atomic", 0.0, 1);
  run.options.mode = config::TrainerMode::kTrainOnly;
  run.options.max_epochs = 2;
  Trainer trainer(run.options, run.Parts());
  run.options.max_epochs = 1;
  Trainer one_epoch(run.options, run.Parts());
  ASSERT_TRUE(one_epoch.Run().ok());
  const std::string path = run.dir + "/checkpoints/checkpoint.pt";
  const std::string before = Read(path);
  ASSERT_FALSE(before.empty());

  run.options.max_epochs = 2;
  run.store.fail_saves = true;
  Trainer second(run.options, run.Parts());
  absl::Status status = second.Run();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Read(path), before);
  for (const auto& e :
       std::filesystem::directory_iterator(run.dir + "/checkpoints")) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos)
        << e.path();
  }
}

TEST(TrainerTest, ValModeOnlyValidates) {
  ToyRun run("val_only", 0.0, 1);
  run.options.mode = config::TrainerMode::kVal;
  Trainer trainer(run.options, run.Parts());
  ASSERT_TRUE(trainer.Run().ok());
  EXPECT_EQ(trainer.state().step, 0);
  EXPECT_EQ(trainer.state().val_step, 2);
  EXPECT_GT(trainer.last_val_stats().at("Losses/val_all_core_loss"), 0);
}

// Collects the scalars the trainer writes.
class RecordingScalars : public ScalarSink {
 public:
  void AddScalar(const std::string& tag, double value, int64_t step) override {
    values[tag].push_back(value);
  }
  void Flush() override {}
  std::map<std::string, std::vector<double>> values;
};

// A GPU's memory meter as the trainer sees it: peak of step i is 100 * i MB
// (reset=true starts the next step's peak).
struct FakeDeviceMemory {
  int64_t steps = 0;
  int64_t reads_without_reset = 0;
  std::optional<double> Read(bool reset) {
    if (!reset) {
      ++reads_without_reset;
      return 100.0 * static_cast<double>(steps);
    }
    return 100.0 * static_cast<double>(++steps);
  }
};

TEST(TrainerTest, DeviceMemoryIsLoggedPerStep) {
  ToyRun run("device_memory", 0.0, 1);
  run.options.mode = config::TrainerMode::kTrainOnly;
  run.options.max_epochs = 1;
  run.options.log_freq = 3;
  FakeDeviceMemory memory;
  RecordingScalars scalars;
  TrainerParts parts = run.Parts();
  parts.scalars = &scalars;
  parts.device_memory_mb = [&memory](bool reset) { return memory.Read(reset); };
  Trainer trainer(run.options, parts);
  ASSERT_TRUE(trainer.Run().ok());
  // One read (and reset) per optimizer step, as the reference's meter.
  EXPECT_EQ(memory.steps, 6);
  EXPECT_EQ(memory.reads_without_reset, 0);
  const std::string log = Read(run.dir + "/logs/log.txt");
  EXPECT_THAT(log, HasSubstr("| GPU Mem 100 MB |"));  // step 1
  EXPECT_THAT(log, HasSubstr("| GPU Mem 300 MB |"));  // step 3
  EXPECT_THAT(log, HasSubstr("| GPU Mem 600 MB |"));  // step 6
  ASSERT_TRUE(scalars.values.count("Step_Stats/train/GPU Mem (MB)"));
  EXPECT_EQ(scalars.values.at("Step_Stats/train/GPU Mem (MB)").front(), 100.0);
}

TEST(TrainerTest, BenchmarkReportsTheLargestStepsDeviceMemory) {
  ToyRun run("device_memory_bench", 0.0, 1);
  FakeDeviceMemory memory;
  int synchronizations = 0;
  TrainerParts parts = run.Parts();
  parts.device_memory_mb = [&memory](bool reset) { return memory.Read(reset); };
  parts.synchronize_device = [&synchronizations] { ++synchronizations; };
  Trainer trainer(run.options, parts);
  absl::StatusOr<BenchmarkResult> result = trainer.Benchmark(4);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->step_seconds.size(), 4u);
  ASSERT_TRUE(result->peak_device_mb.has_value());
  EXPECT_EQ(*result->peak_device_mb, 400.0);
  // Before and after each timed step: queued GPU work is inside the timing.
  EXPECT_EQ(synchronizations, 8);
}

TEST(TrainerTest, BenchmarkCallsItsHookBeforeTheSteadySteps) {
  ToyRun run("bench_hook", 0.0, 1);
  TrainerParts parts = run.Parts();
  int synchronizations = 0;
  std::vector<int> synchronizations_at_hook;
  parts.synchronize_device = [&synchronizations] { ++synchronizations; };
  Trainer trainer(run.options, parts);
  const auto hook = [&] {
    synchronizations_at_hook.push_back(synchronizations);
  };
  ASSERT_TRUE(trainer.Benchmark(3, hook).ok());
  // After the first step's two synchronizations, before the second's.
  EXPECT_EQ(synchronizations_at_hook, std::vector<int>{2});
  synchronizations = 0;
  synchronizations_at_hook.clear();
  ASSERT_TRUE(trainer.Benchmark(1, hook).ok());
  EXPECT_EQ(synchronizations_at_hook, std::vector<int>{0});
}

TEST(TrainerTest, CpuRunsLogNoDeviceMemory) {
  ToyRun run("no_device_memory", 0.0, 1);
  run.options.mode = config::TrainerMode::kTrainOnly;
  run.options.max_epochs = 1;
  Trainer trainer(run.options, run.Parts());
  ASSERT_TRUE(trainer.Run().ok());
  const std::string log = Read(run.dir + "/logs/log.txt");
  EXPECT_THAT(log, HasSubstr("| Mem "));
  EXPECT_THAT(log, Not(HasSubstr("GPU Mem")));
  absl::StatusOr<BenchmarkResult> result = trainer.Benchmark(1);
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->peak_device_mb.has_value());
}

// A val source whose Start fails from its `fail_from`-th call on (0-based),
// as a job preempted during validation.
class FailingVal : public ToyData {
 public:
  explicit FailingVal(int fail_from) : ToyData(2, 2), fail_from_(fail_from) {}
  absl::Status Start(int64_t epoch, int64_t first_batch) override {
    if (starts_++ >= fail_from_) return absl::UnavailableError("preempted");
    return ToyData::Start(epoch, first_batch);
  }

 private:
  int fail_from_;
  int starts_ = 0;
};

// The "Trainer/epoch" of each line of val_stats.json.
std::vector<int> ValEpochs(const std::string& dir) {
  std::vector<int> epochs;
  std::istringstream lines(Read(dir + "/logs/val_stats.json"));
  std::string line;
  while (std::getline(lines, line)) {
    const size_t at = line.find("\"Trainer/epoch\": ");
    if (at != std::string::npos)
      epochs.push_back(std::stoi(line.substr(at + 17)));
  }
  return epochs;
}

TEST(TrainerTest, ValidationCarriesTheNumberOfTheEpochItFollows) {
  ToyRun run("val_epochs", 0.0, 1);
  RecordingScalars scalars;
  TrainerParts parts = run.Parts();
  parts.scalars = &scalars;
  Trainer trainer(run.options, parts);
  ASSERT_TRUE(trainer.Run().ok());
  // After epochs 0 and 1 (intermediate) and after the last one, 2.
  EXPECT_EQ(ValEpochs(run.dir), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(trainer.last_val_stats().at("Trainer/epoch"), 2);
}

TEST(TrainerTest, TrainModeWithoutValDataTrainsAndSkipsValidation) {
  ToyRun run("no_val", 0.0, 1);
  TrainerParts parts = run.Parts();
  parts.val_data = nullptr;
  Trainer trainer(run.options, parts);
  ASSERT_TRUE(trainer.Run().ok());
  EXPECT_EQ(trainer.state().step, 18);
  EXPECT_FALSE(std::filesystem::exists(run.dir + "/logs/val_stats.json"));
}

TEST(TrainerTest, InterruptedValidationIsRerunOnResume) {
  ToyRun run("val_rerun", 0.0, 1);
  FailingVal failing(/*fail_from=*/1);  // the validation after epoch 1
  TrainerParts parts = run.Parts();
  parts.val_data = &failing;
  Trainer first(run.options, parts);
  EXPECT_EQ(first.Run().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ValEpochs(run.dir), (std::vector<int>{0}));

  ToyRun again("val_rerun", 0.0, 1, 6, 2, /*fresh=*/false);
  Trainer second(again.options, again.Parts());
  ASSERT_TRUE(second.Run().ok());
  EXPECT_THAT(Read(run.dir + "/logs/log.txt"),
              HasSubstr("Running the interrupted validation of epoch 1"));
  EXPECT_EQ(ValEpochs(run.dir), (std::vector<int>{0, 1, 2}));
}

TEST(TrainerTest, FinishedValidationIsNotRerunOnResume) {
  ToyRun run("val_done", 0.0, 1);
  run.options.stop_after_steps = 8;  // in epoch 1, after validation 0
  Trainer first(run.options, run.Parts());
  ASSERT_TRUE(first.Run().ok());
  ToyRun again("val_done", 0.0, 1, 6, 2, /*fresh=*/false);
  Trainer second(again.options, again.Parts());
  ASSERT_TRUE(second.Run().ok());
  EXPECT_THAT(Read(run.dir + "/logs/log.txt"),
              Not(HasSubstr("interrupted validation")));
  EXPECT_EQ(ValEpochs(run.dir), (std::vector<int>{0, 1, 2}));
}

// checkpoint.resume_from starts a run; once the run has saved its own
// checkpoint, a restart continues from that one.
TEST(TrainerTest, ResumeFromIsUsedOnlyUntilTheRunHasItsOwnCheckpoint) {
  ToyRun source("resume_source", 0.0, 1);
  source.options.mode = config::TrainerMode::kTrainOnly;
  source.options.max_epochs = 1;
  Trainer pretrain(source.options, source.Parts());
  ASSERT_TRUE(pretrain.Run().ok());
  const std::string from = source.dir + "/checkpoints/checkpoint.pt";

  ToyRun run("resume_target", 0.0, 2);
  run.options.mode = config::TrainerMode::kTrainOnly;
  run.options.resume_from = from;
  run.options.save_every_steps = 6;
  run.options.stop_after_steps = 6;  // one epoch, then "preempted"
  Trainer first(run.options, run.Parts());
  ASSERT_TRUE(first.Run().ok());
  EXPECT_EQ(first.state().step, 12);

  ToyRun restarted("resume_target", 0.0, 3, 6, 2, /*fresh=*/false);
  restarted.options = run.options;
  restarted.options.stop_after_steps = 0;
  Trainer second(restarted.options, restarted.Parts());
  ASSERT_TRUE(second.Run().ok());
  EXPECT_EQ(second.step_losses().size(), 6u);  // epoch 2 only
  EXPECT_EQ(second.state().step, 18);
  const std::string log = Read(run.dir + "/logs/log.txt");
  EXPECT_THAT(log, HasSubstr("Resuming from " + from + " at epoch 1, batch 0"));
  EXPECT_THAT(log, HasSubstr("Resuming from " + run.dir +
                             "/checkpoints/checkpoint.pt at epoch 1, batch 6"));

  ToyRun missing("resume_missing", 0.0, 1);
  missing.options.resume_from = missing.dir + "/nowhere.pt";
  Trainer none(missing.options, missing.Parts());
  const absl::Status status = none.Run();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("checkpoint.resume_from: " + missing.dir +
                        "/nowhere.pt does not exist"));
}

// skip_saving_parameters: the keys are left out of checkpoints, and a
// resumed model keeps its own (initialiser's) values for them.
TEST(TrainerTest, SkippedParametersAreNotSavedAndNotRestored) {
  ToyRun run("skip_saving", 0.0, 1);
  run.options.mode = config::TrainerMode::kTrainOnly;
  run.options.max_epochs = 1;
  run.options.skip_saving_parameters = {"0.*"};
  Trainer first(run.options, run.Parts());
  ASSERT_TRUE(first.Run().ok());
  absl::StatusOr<TrainerCheckpoint> saved =
      run.store.Load(run.dir + "/checkpoints/checkpoint.pt");
  ASSERT_TRUE(saved.ok());
  std::vector<std::string> names;
  for (const auto& [name, t] : saved->model) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"3.weight", "3.bias"}));

  ToyRun resumed("skip_saving", 0.0, /*init_seed=*/5, 6, 2, /*fresh=*/false);
  resumed.options = run.options;
  resumed.options.max_epochs = 1;  // nothing left to train: load only
  const std::vector<at::Tensor> initial = resumed.Weights();
  Trainer second(resumed.options, resumed.Parts());
  ASSERT_TRUE(second.Run().ok());
  const std::vector<at::Tensor> after = resumed.Weights(),
                                trained = run.Weights();
  EXPECT_TRUE(at::equal(after[0], initial[0]));  // 0.weight: not restored
  EXPECT_TRUE(at::equal(after[2], trained[2]));  // 3.weight: restored
}

// Validation meters scripted per epoch; records which epochs it ran.
class ScriptedValidator : public Validator {
 public:
  ScriptedValidator(std::initializer_list<std::pair<const int64_t, double>> jf)
      : jf_(jf) {}
  absl::StatusOr<std::map<std::string, double>> Validate(
      int64_t epoch) override {
    epochs.push_back(epoch);
    return std::map<std::string, double>{
        {"Meters_val/vos/J&F", jf_.at(epoch)},
        {"Meters_val/vos/J", jf_.at(epoch) - 1}};
  }
  std::vector<int64_t> epochs;

 private:
  std::map<int64_t, double> jf_;
};

// The number after `"key": ` in `text`; NaN when it is not there.
double JsonValue(const std::string& text, const std::string& key) {
  const std::string quoted = "\"" + key + "\": ";
  const size_t at = text.find(quoted);
  if (at == std::string::npos) return std::nan("");
  return std::stod(text.substr(at + quoted.size()));
}

TEST(TrainerTest, ValidatorMetersGoToTheLogStatsAndTensorBoard) {
  ToyRun run("validator_meters", 0.0, 1);
  ScriptedValidator validator({{0, 10}, {1, 30}, {2, 20}});
  RecordingScalars scalars;
  TrainerParts parts = run.Parts();
  parts.val_data = nullptr;  // J&F only
  parts.validator = &validator;
  parts.scalars = &scalars;
  Trainer trainer(run.options, parts);
  ASSERT_TRUE(trainer.Run().ok());
  EXPECT_EQ(validator.epochs, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(ValEpochs(run.dir), (std::vector<int>{0, 1, 2}));
  EXPECT_THAT(Read(run.dir + "/logs/val_stats.json"),
              HasSubstr("\"Meters_val/vos/J&F\": 30"));
  EXPECT_THAT(Read(run.dir + "/logs/log.txt"),
              HasSubstr("Val epoch 1 | Meters_val/vos/J 29.00 | "
                        "Meters_val/vos/J&F 30.00"));
  EXPECT_EQ(scalars.values["Meters_val/vos/J&F"],
            (std::vector<double>{10, 30, 20}));
  // No best meter configured: no best checkpoint.
  EXPECT_FALSE(
      std::filesystem::exists(run.dir + "/checkpoints/checkpoint_best.pt"));
}

TEST(TrainerTest, BestCheckpointIsKeptOnImprovementOnly) {
  ToyRun run("best_kept", 0.0, 1);
  run.options.best_meter = "Meters_val/vos/J&F";
  ScriptedValidator validator({{0, 10}, {1, 30}, {2, 20}});
  TrainerParts parts = run.Parts();
  parts.validator = &validator;
  Trainer trainer(run.options, parts);
  ASSERT_TRUE(trainer.Run().ok());
  ASSERT_TRUE(trainer.best_value().has_value());
  EXPECT_EQ(*trainer.best_value(), 30);
  // The checkpoint taken after epoch 1 (the one validated with 30), not
  // replaced by epoch 2's 20.
  absl::StatusOr<TrainerCheckpoint> best =
      run.store.Load(run.dir + "/checkpoints/checkpoint_best.pt");
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_EQ(best->epoch, 2);
  EXPECT_EQ(best->step, 12);
  const std::string stats = Read(run.dir + "/logs/best_stats.json");
  EXPECT_EQ(std::count(stats.begin(), stats.end(), '\n'), 1);
  EXPECT_EQ(JsonValue(stats, "Meters_val/vos/J&F"), 30);
  EXPECT_EQ(JsonValue(stats, "Trainer/epoch"), 1);
  // The loss val ran too, and its stats are beside the meter.
  EXPECT_FALSE(std::isnan(JsonValue(stats, "Losses/val_all_core_loss")));
  const std::string log = Read(run.dir + "/logs/log.txt");
  EXPECT_THAT(log, HasSubstr("New best Meters_val/vos/J&F 30.0000 after "
                             "epoch 1 (previous 10.0000)"));
  EXPECT_THAT(log, HasSubstr("Meters_val/vos/J&F 20.0000 after epoch 2; the "
                             "best is 30.0000"));
}

TEST(TrainerTest, LowerIsBetterMeters) {
  ToyRun run("best_lower", 0.0, 1);
  run.options.best_meter = "Meters_val/vos/J&F";
  run.options.best_higher_is_better = false;
  ScriptedValidator validator({{0, 10}, {1, 30}, {2, 5}});
  TrainerParts parts = run.Parts();
  parts.validator = &validator;
  Trainer trainer(run.options, parts);
  ASSERT_TRUE(trainer.Run().ok());
  EXPECT_EQ(*trainer.best_value(), 5);
  EXPECT_EQ(run.store.Load(run.dir + "/checkpoints/checkpoint_best.pt")->epoch,
            3);
}

// A restarted run knows the best of the run before it (from
// best_stats.json): a worse value after the restart keeps the old best.
TEST(TrainerTest, BestSurvivesResume) {
  ToyRun run("best_resume", 0.0, 1);
  run.options.best_meter = "Meters_val/vos/J&F";
  run.options.stop_after_steps = 8;  // in epoch 1, after validation 0
  ScriptedValidator first_values({{0, 50}});
  TrainerParts parts = run.Parts();
  parts.validator = &first_values;
  Trainer first(run.options, parts);
  ASSERT_TRUE(first.Run().ok());
  EXPECT_EQ(first_values.epochs, (std::vector<int64_t>{0}));

  ToyRun again("best_resume", 0.0, 1, 6, 2, /*fresh=*/false);
  again.options.best_meter = "Meters_val/vos/J&F";
  ScriptedValidator later_values({{1, 40}, {2, 60}});
  TrainerParts again_parts = again.Parts();
  again_parts.validator = &later_values;
  Trainer second(again.options, again_parts);
  ASSERT_TRUE(second.Run().ok());
  const std::string log = Read(run.dir + "/logs/log.txt");
  EXPECT_THAT(log, HasSubstr("Best Meters_val/vos/J&F so far: 50"));
  EXPECT_THAT(log, HasSubstr("Meters_val/vos/J&F 40.0000 after epoch 1; the "
                             "best is 50.0000"));
  EXPECT_THAT(log, HasSubstr("New best Meters_val/vos/J&F 60.0000 after "
                             "epoch 2 (previous 50.0000)"));
  EXPECT_EQ(JsonValue(Read(run.dir + "/logs/best_stats.json"), "Trainer/epoch"),
            2);
  EXPECT_EQ(run.store.Load(run.dir + "/checkpoints/checkpoint_best.pt")->epoch,
            3);
}

TEST(TrainerTest, MissingBestMeterIsAWarningNotAFailure) {
  ToyRun run("best_missing", 0.0, 1);
  run.options.best_meter = "Meters_val/vos/J&F";
  Trainer trainer(run.options, run.Parts());  // loss val only
  ASSERT_TRUE(trainer.Run().ok());
  EXPECT_THAT(Read(run.dir + "/logs/log.txt"),
              HasSubstr("checkpoint.save_best_meter: Meters_val/vos/J&F is "
                        "not among the validation's stats"));
  EXPECT_FALSE(
      std::filesystem::exists(run.dir + "/checkpoints/checkpoint_best.pt"));
}

TEST(TrainerTest, LibTorchErrorsBecomeAStatusNamingTheStep) {
  ToyRun run("torch_error", 0.0, 1);
  run.options.mode = config::TrainerMode::kTrainOnly;
  // Epoch 0 reads videos 6 and 7 as its 4th batch (ToyData's order).
  run.task->throw_videos = {7};
  Trainer trainer(run.options, run.Parts());
  const absl::Status status = trainer.Run();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  const std::string message(status.message());
  EXPECT_THAT(message,
              ::testing::StartsWith("step 4 (epoch 0, batch 3, slot 0): "))
      << message;
  EXPECT_THAT(message, HasSubstr("cannot be multiplied"));
}

}  // namespace
}  // namespace sam2::training
