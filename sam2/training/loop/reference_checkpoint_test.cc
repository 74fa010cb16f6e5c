// A checkpoint written by the reference trainer (tools/
// gen_reference_checkpoint.py: the parity-small model with a frozen image
// encoder, the MOSE optimizer, two steps) resumes here: same parameter
// numbering, moments, counters, and the next AdamW step equals the
// reference's.
#include "sam2/training/loop/reference_checkpoint.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "configs/loader.h"
#include "sam2/checkpoint/state_dict.h"
#include "sam2/checkpoint/torch_file.h"
#include "sam2/training/logging/run_log.h"
#include "sam2/training/loop/checkpoint_store.h"
#include "sam2/training/model/sam2_train.h"
#include "sam2/training/model_builder.h"

namespace sam2::training {
namespace {

using ::testing::HasSubstr;

constexpr char kCheckpoint[] =
    "sam2/training/loop/testdata/reference_trainer_checkpoint.pt";

std::string Runfile(const std::string& path) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/sam2_train_cpp/" + path;
}

nlohmann::json Table() {
  std::ifstream in(
      Runfile("sam2/training/loop/testdata/reference_trainer_checkpoint.json"));
  return nlohmann::json::parse(in);
}

config::Experiment ParitySmall() {
  absl::StatusOr<config::LoadedExperiment> e =
      config::LoadExperiment({"parity_small", {}, {}});
  EXPECT_TRUE(e.ok()) << e.status();
  return e->experiment;
}

// The generator's model: parity-small with freeze_image_encoder.
SAM2Train FrozenEncoderModel() {
  config::Experiment e = ParitySmall();
  e.mutable_model()->set_freeze_image_encoder(true);
  absl::StatusOr<SAM2TrainOptions> options = ModelOptionsFromConfig(e.model());
  EXPECT_TRUE(options.ok()) << options.status();
  return SAM2Train(*options);
}

class ReferenceCheckpointTest : public testing::Test {
 protected:
  void SetUp() override {
    auto optimizer = optim::AdamW::Create(*model_, ParitySmall().optim());
    ASSERT_TRUE(optimizer.ok()) << optimizer.status();
    optimizer_ = std::move(*optimizer);
    auto top = checkpoint::LoadTorchFile(Runfile(kCheckpoint));
    ASSERT_TRUE(top.ok()) << top.status();
    top_ = *top;
  }

  // The parameter name of each reference index, from our groups.
  std::vector<std::string> OurIndexNames() const {
    std::vector<std::string> names;
    for (const optim::ParamGroup& g : optimizer_->groups()) {
      for (size_t i : g.params) names.push_back(optimizer_->params()[i].name);
    }
    return names;
  }

  SAM2Train model_ = FrozenEncoderModel();
  std::unique_ptr<optim::AdamW> optimizer_;
  checkpoint::Value top_;
};

TEST_F(ReferenceCheckpointTest, ParameterIndicesAreTheReferences) {
  const nlohmann::json table = Table();
  EXPECT_EQ(OurIndexNames(),
            table["index_names"].get<std::vector<std::string>>());
  ASSERT_EQ(optimizer_->groups().size(), table["groups"].size());
}

TEST_F(ReferenceCheckpointTest, LoadsMomentsCountersAndModel) {
  absl::StatusOr<TrainerCheckpoint> c =
      LoadReferenceTrainerCheckpoint(Runfile(kCheckpoint), *optimizer_);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->epoch, 2);  // save_checkpoint(epoch + 1) after epochs 0 and 1
  EXPECT_EQ(c->next_batch, 0);
  EXPECT_EQ(c->step, 2);
  EXPECT_EQ(c->val_step, 0);
  EXPECT_DOUBLE_EQ(c->time_elapsed, 12.5);
  EXPECT_DOUBLE_EQ(c->loss_scale, 32768.0);
  EXPECT_EQ(c->loss_scale_growth_tracker, 2);

  // The model part is the file's state_dict, and it fits our model.
  auto file_model = checkpoint::ToTensorDict(*top_.Find("model"), "model");
  ASSERT_TRUE(file_model.ok());
  ASSERT_EQ(c->model.size(), file_model->size());
  for (size_t i = 0; i < c->model.size(); ++i) {
    EXPECT_EQ(c->model[i].first, (*file_model)[i].first);
    EXPECT_TRUE(at::equal(c->model[i].second, (*file_model)[i].second));
  }
  EXPECT_TRUE(
      checkpoint::LoadStateDictIntoModel(*model_, c->model, {}, "ckpt").ok());

  // Every state entry lands on the parameter the reference numbered so.
  const auto index_names =
      Table()["index_names"].get<std::vector<std::string>>();
  std::map<std::string, at::Tensor> ours(c->optimizer.begin(),
                                         c->optimizer.end());
  const checkpoint::Value& state = *top_.Find("optimizer")->Find("state");
  EXPECT_EQ(ours.size(), 3 * state.entries().size());
  for (const auto& [key, entry] : state.entries()) {
    const std::string& name = index_names.at(key.as_int());
    EXPECT_TRUE(at::equal(ours.at(name + ".exp_avg"),
                          entry.Find("exp_avg")->as_tensor()))
        << name;
    EXPECT_TRUE(at::equal(ours.at(name + ".exp_avg_sq"),
                          entry.Find("exp_avg_sq")->as_tensor()))
        << name;
    EXPECT_EQ(ours.at(name + ".step").item<double>(), 2.0) << name;
  }
  // Frozen parameters (the image encoder) have no state.
  for (const auto& [key, tensor] : c->optimizer) {
    EXPECT_FALSE(absl::StartsWith(key, "image_encoder.")) << key;
  }
  EXPECT_TRUE(optimizer_->LoadState(c->optimizer).ok());
}

// Epoch 2, batch 0 of the reference run (max_epochs 4): where = 0.5, gradients
// 0.5 * param - exp_avg, clipped at 0.1, one AdamW step.
TEST_F(ReferenceCheckpointTest, NextStepMatchesTheReference) {
  absl::StatusOr<TrainerCheckpoint> c =
      LoadReferenceTrainerCheckpoint(Runfile(kCheckpoint), *optimizer_);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(
      checkpoint::LoadStateDictIntoModel(*model_, c->model, {}, "ckpt").ok());
  ASSERT_TRUE(optimizer_->LoadState(c->optimizer).ok());
  std::map<std::string, at::Tensor> state(c->optimizer.begin(),
                                          c->optimizer.end());
  std::map<std::string, at::Tensor> before;
  for (const optim::NamedParameter& p : optimizer_->params()) {
    before[p.name] = p.param.detach().clone();
    if (!p.param.requires_grad()) continue;
    at::Tensor param = p.param;
    param.mutable_grad() =
        0.5 * p.param.detach() - state.at(p.name + ".exp_avg");
  }
  auto expected = checkpoint::LoadTensorDict(Runfile(
      "sam2/training/loop/testdata/reference_trainer_checkpoint_next.pt"));
  ASSERT_TRUE(expected.ok()) << expected.status();
  std::map<std::string, at::Tensor> ref(expected->begin(), expected->end());

  optimizer_->SetProgress(0.5);
  const double norm = optimizer_->ClipGradients();
  const double ref_norm = ref.at("grad_total_norm").item<double>();
  EXPECT_NEAR(norm, ref_norm, 1e-6 * ref_norm);
  optimizer_->Step();

  double worst = 0, worst_relative = 0, largest_update = 0;
  int compared = 0;
  for (const optim::NamedParameter& p : optimizer_->params()) {
    if (!p.param.requires_grad()) {
      EXPECT_TRUE(at::equal(p.param, before.at(p.name))) << p.name;
      continue;
    }
    auto it = ref.find("after_step." + p.name);
    if (it == ref.end()) continue;
    ++compared;
    const double err = (p.param - it->second).abs().max().item<double>();
    const double moved =
        (it->second - before.at(p.name)).abs().max().item<double>();
    EXPECT_LE(err, 1e-6) << p.name;
    worst = std::max(worst, err);
    largest_update = std::max(largest_update, moved);
    if (moved > 0) worst_relative = std::max(worst_relative, err / moved);
  }
  EXPECT_EQ(compared, static_cast<int>(ref.size()) - 1);
  EXPECT_GT(largest_update, 1e-7);  // the step did move the parameters
  RecordProperty("max_abs_error_after_step", std::to_string(worst));
  RecordProperty("max_error_over_update", std::to_string(worst_relative));
  std::cout << "after-step max abs error " << worst
            << ", max error / update size " << worst_relative << " over "
            << compared << " tensors (largest update " << largest_update
            << ", gradient norm " << norm << " vs " << ref_norm << ")\n";
}

TEST_F(ReferenceCheckpointTest, AnotherGroupingIsRefused) {
  config::OptimConfig other = ParitySmall().optim();
  other.clear_layer_decay();
  auto optimizer = optim::AdamW::Create(*model_, other);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  absl::StatusOr<TrainerCheckpoint> c =
      LoadReferenceTrainerCheckpoint(Runfile(kCheckpoint), **optimizer);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("['optimizer']['param_groups'] has 19 parameter "
                        "groups, this run's optimizer 4"));
}

TEST_F(ReferenceCheckpointTest, OurOwnFormatIsNotTheReferences) {
  EXPECT_TRUE(IsReferenceTrainerCheckpoint(top_));
  checkpoint::Value ours = checkpoint::Value::Dict();
  ours.Set("model", checkpoint::Value::Dict());
  ours.Set("format", checkpoint::Value::String("sam2-train-cpp/1"));
  EXPECT_FALSE(IsReferenceTrainerCheckpoint(ours));
  auto c = ReferenceTrainerCheckpointFromValue(ours, optimizer_->params(),
                                               optimizer_->groups(), "x.pt");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
}

// The trainer's resume path (checkpoint.resume_from -> TorchCheckpointStore
// with the run's optimizer -> model and AdamW state) takes a reference file.
TEST_F(ReferenceCheckpointTest, ResumesThroughTheTrainersStore) {
  class NoBatches : public BatchSource {
   public:
    int64_t batches_per_epoch() const override { return 1; }
    absl::Status Start(int64_t, int64_t) override { return absl::OkStatus(); }
    absl::StatusOr<std::optional<data::BatchedVideoDatapoint>> Next() override {
      return std::optional<data::BatchedVideoDatapoint>();
    }
  } no_batches;
  Sam2TrainTask task(model_, LossOptionsFromConfig(ParitySmall().loss()));
  TorchCheckpointStore store(optimizer_.get());
  auto log = RunLog::Open("", 0);
  ASSERT_TRUE(log.ok());
  distributed::SingleProcessCollectives world;
  TrainerParts parts;
  parts.task = &task;
  parts.optimizer = optimizer_.get();
  parts.train_data = &no_batches;
  parts.checkpoints = &store;
  parts.log = log->get();
  parts.collectives = &world;
  TrainerOptions options;
  options.mode = config::TrainerMode::kTrainOnly;
  options.max_epochs = 2;  // the file's next epoch: resume, nothing to train
  options.resume_from = Runfile(kCheckpoint);
  Trainer trainer(options, parts);
  ASSERT_TRUE(trainer.Run().ok());
  EXPECT_EQ(trainer.state().epoch, 2);
  EXPECT_EQ(trainer.state().step, 2);

  auto file_model = checkpoint::ToTensorDict(*top_.Find("model"), "model");
  ASSERT_TRUE(file_model.ok());
  std::map<std::string, at::Tensor> ours;
  for (auto& [name, t] : checkpoint::ModelStateDict(*model_)) ours[name] = t;
  for (const auto& [name, t] : *file_model) {
    ASSERT_TRUE(ours.count(name)) << name;
    EXPECT_TRUE(at::equal(ours[name], t)) << name;
  }
  absl::StatusOr<TrainerCheckpoint> direct =
      LoadReferenceTrainerCheckpoint(Runfile(kCheckpoint), *optimizer_);
  ASSERT_TRUE(direct.ok());
  const NamedTensors state = optimizer_->State();
  std::map<std::string, at::Tensor> loaded(state.begin(), state.end());
  for (const auto& [name, t] : direct->optimizer) {
    ASSERT_TRUE(loaded.count(name)) << name;
    EXPECT_TRUE(at::equal(loaded[name], t)) << name;
  }

  // Without an optimizer the store refuses the file, naming it.
  TorchCheckpointStore plain;
  absl::StatusOr<TrainerCheckpoint> refused = plain.Load(Runfile(kCheckpoint));
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("is neither a sam2-train-cpp nor a reference-trainer"));
}

}  // namespace
}  // namespace sam2::training
