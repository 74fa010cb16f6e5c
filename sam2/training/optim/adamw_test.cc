// Parity with the reference optimizer on the parity-small model: lr and
// weight decay of every parameter at three schedule points
// (parity_small_optim.json) and one clipped AdamW step from the reference
// gradients (after_step.* in parity_small_io.pt).
#include "sam2/training/optim/adamw.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "configs/loader.h"
#include "sam2/checkpoint/torch_file.h"

namespace sam2::training::optim {
namespace {

using ::testing::HasSubstr;

std::string Runfile(const std::string& path) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/sam2_train_cpp/" + path;
}

// The parity model's parameters (zeros), from the reference's named_modules.
std::vector<NamedParameter> ParityParams() {
  std::ifstream in(
      Runfile("sam2/training/optim/testdata/parity_small_params.tsv"));
  std::vector<NamedParameter> params;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    std::vector<int64_t> shape;
    for (absl::string_view d : absl::StrSplit(cols[1], 'x')) {
      shape.push_back(std::stoll(std::string(d)));
    }
    params.push_back({cols[0], at::zeros(shape), cols[2]});
  }
  return params;
}

config::OptimConfig ParityOptim() {
  absl::StatusOr<config::LoadedExperiment> e =
      config::LoadExperiment({"parity_small", {}, {}});
  EXPECT_TRUE(e.ok()) << e.status();
  return e->experiment.optim();
}

TEST(AdamWTest, LrAndWeightDecayOfEveryParameterMatchTheReference) {
  std::ifstream in(Runfile("tests/testdata/parity/parity_small_optim.json"));
  const nlohmann::json expected = nlohmann::json::parse(in);
  std::vector<NamedParameter> params = ParityParams();
  ASSERT_EQ(params.size(), expected.size());
  auto optimizer = AdamW::Create(params, ParityOptim());
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  double worst = 0;
  for (const char* where : {"0.0", "0.5", "1.0"}) {
    (*optimizer)->SetProgress(std::stod(where));
    for (const NamedParameter& p : params) {
      auto hp = (*optimizer)->HyperParametersOf(p.name);
      ASSERT_TRUE(hp.ok()) << p.name;
      const double lr = expected[p.name][std::string("lr@") + where];
      const double wd = expected[p.name][std::string("weight_decay@") + where];
      const double lr_err = std::abs(hp->first - lr) / std::abs(lr);
      const double wd_err =
          wd == 0 ? std::abs(hp->second) : std::abs(hp->second - wd) / wd;
      EXPECT_LE(lr_err, 1e-9) << p.name << " lr@" << where;
      EXPECT_LE(wd_err, 1e-9) << p.name << " weight_decay@" << where;
      worst = std::max({worst, lr_err, wd_err});
    }
  }
  RecordProperty("max_relative_error", std::to_string(worst));
}

TEST(AdamWTest, ClippedStepMatchesTheReference) {
  absl::StatusOr<checkpoint::TensorDict> model = checkpoint::LoadStateDict(
      Runfile("tests/testdata/parity/parity_small_model.pt"));
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<checkpoint::TensorDict> io = checkpoint::LoadTensorDict(
      Runfile("tests/testdata/parity/parity_small_io.pt"));
  ASSERT_TRUE(io.ok()) << io.status();
  std::map<std::string, at::Tensor> ref(io->begin(), io->end());
  std::map<std::string, at::Tensor> weights(model->begin(), model->end());

  std::vector<NamedParameter> params = ParityParams();
  for (NamedParameter& p : params) {
    p.param = weights.at(p.name).clone();
    auto grad = ref.find("grad." + p.name);
    if (grad != ref.end()) p.param.mutable_grad() = grad->second.clone();
  }
  auto optimizer = AdamW::Create(params, ParityOptim());
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  const double norm = (*optimizer)->ClipGradients();
  const double ref_norm =
      ref.at("optim.grad_total_norm_before_clip").item<double>();
  EXPECT_NEAR(norm, ref_norm, 1e-6 * ref_norm);
  (*optimizer)->Step();
  double worst = 0;
  for (const NamedParameter& p : params) {
    const at::Tensor expected = ref.at("after_step." + p.name);
    const double err = (p.param - expected).abs().max().item<double>();
    EXPECT_LE(err, 1e-6) << p.name;
    worst = std::max(worst, err);
  }
  RecordProperty("max_abs_error_after_step", std::to_string(worst));
}

TEST(AdamWTest, StateRoundTripsAndStepsContinue) {
  std::vector<NamedParameter> a = {
      {"w", at::ones({3}), "torch::nn::LinearImpl"}};
  std::vector<NamedParameter> b = {
      {"w", at::ones({3}), "torch::nn::LinearImpl"}};
  config::OptimConfig c;
  c.add_lr()->mutable_scheduler()->mutable_constant()->set_value(0.1);
  auto oa = AdamW::Create(a, c);
  auto ob = AdamW::Create(b, c);
  ASSERT_TRUE(oa.ok() && ob.ok());
  for (int i = 0; i < 3; ++i) {
    a[0].param.mutable_grad() = at::full({3}, 0.5f * (i + 1));
    (*oa)->Step();
  }
  // b takes a's parameters and state, then both step once more.
  b[0].param.copy_(a[0].param);
  ASSERT_TRUE((*ob)->LoadState((*oa)->State()).ok());
  a[0].param.mutable_grad() = at::full({3}, -1.0f);
  b[0].param.mutable_grad() = at::full({3}, -1.0f);
  (*oa)->Step();
  (*ob)->Step();
  EXPECT_TRUE(at::equal(a[0].param, b[0].param));
}

// Contiguous float parameters take the one-pass update, others the ops one
// by one: the two agree to float rounding over several steps.
TEST(AdamWTest, OnePassUpdateAgreesWithTheOpByOpUpdate) {
  at::manual_seed(5);
  const at::Tensor init = at::randn({37, 300});
  std::vector<NamedParameter> fused = {
      {"w", init.clone(), "torch::nn::LinearImpl"}};
  // The same values through a transposed (non-contiguous) view.
  std::vector<NamedParameter> op_by_op = {
      {"w", init.t().contiguous().t(), "torch::nn::LinearImpl"}};
  ASSERT_FALSE(op_by_op[0].param.is_contiguous());
  config::OptimConfig c;
  c.add_lr()->mutable_scheduler()->mutable_constant()->set_value(1e-2);
  c.add_weight_decay()->mutable_scheduler()->mutable_constant()->set_value(0.1);
  auto of = AdamW::Create(fused, c);
  auto oo = AdamW::Create(op_by_op, c);
  ASSERT_TRUE(of.ok() && oo.ok());
  for (int i = 0; i < 5; ++i) {
    const at::Tensor grad = at::randn({37, 300}) * (i + 1);
    fused[0].param.mutable_grad() = grad.clone();
    op_by_op[0].param.mutable_grad() = grad.t().contiguous().t();
    (*of)->Step();
    (*oo)->Step();
  }
  // Both moved (by ~lr a step), to within an ulp or two of each other.
  EXPECT_GT((fused[0].param - init).abs().mean().item<double>(), 1e-2);
  const at::Tensor diff = (fused[0].param - op_by_op[0].param).abs();
  EXPECT_LE(diff.max().item<double>(), 1e-6);
}

struct TwoLayersImpl : torch::nn::Module {
  TwoLayersImpl() {
    encoder = register_module("image_encoder", torch::nn::Linear(2, 2));
    head = register_module("head", torch::nn::Linear(2, 1));
  }
  torch::nn::Linear encoder{nullptr}, head{nullptr};
};

TEST(AdamWTest, FrozenParametersGetNoUpdate) {
  TwoLayersImpl model;
  config::OptimConfig c;
  c.add_lr()->mutable_scheduler()->mutable_constant()->set_value(0.1);
  c.add_frozen_param_patterns("image_encoder.*");
  auto optimizer = AdamW::Create(model, c);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  // Frozen parameters stay in the groups (as the reference's), but are not
  // among those whose gradients are averaged.
  EXPECT_EQ((*optimizer)->params().size(), 4u);
  EXPECT_EQ((*optimizer)->Parameters().size(), 2u);  // head.weight, .bias
  EXPECT_FALSE(model.encoder->weight.requires_grad());
  const at::Tensor encoder_before = model.encoder->weight.clone();
  const at::Tensor head_before = model.head->weight.clone();
  const at::Tensor loss =
      model.head->forward(model.encoder->forward(at::ones({4, 2}))).sum();
  loss.backward();
  EXPECT_FALSE(model.encoder->weight.grad().defined());
  (*optimizer)->Step();
  EXPECT_TRUE(at::equal(model.encoder->weight, encoder_before));
  EXPECT_FALSE(at::equal(model.head->weight, head_before));
}

TEST(ParamGroupTest, OverlappingPatternsAreAnError) {
  std::vector<NamedParameter> params = {
      {"image_encoder.trunk.blocks.0.norm1.bias", at::zeros({2}), "x"},
      {"sam_mask_decoder.iou_token.weight", at::zeros({2}), "x"}};
  config::OptimConfig c;
  c.add_lr()->mutable_scheduler()->mutable_constant()->set_value(1);
  auto* vision = c.add_lr();
  vision->mutable_scheduler()->mutable_constant()->set_value(2);
  vision->add_param_names("image_encoder.*");
  auto* bias = c.add_lr();
  bias->mutable_scheduler()->mutable_constant()->set_value(3);
  bias->add_param_names("*bias*");
  auto groups = BuildParamGroups(params, c);
  ASSERT_FALSE(groups.ok());
  EXPECT_THAT(std::string(groups.status().message()),
              HasSubstr("parameter image_encoder.trunk.blocks.0.norm1.bias is "
                        "claimed by both optim.lr[1] and optim.lr[2]"));
}

TEST(ParamGroupTest, UnmatchedPatternAndClassAreErrors) {
  std::vector<NamedParameter> params = {{"a.weight", at::zeros({1}), "x"}};
  config::OptimConfig c;
  auto* lr = c.add_lr();
  lr->mutable_scheduler()->mutable_constant()->set_value(1);
  lr->add_param_names("image_encoder.*");
  EXPECT_THAT(std::string(BuildParamGroups(params, c).status().message()),
              HasSubstr("optim.lr[0].param_names: 'image_encoder.*' matches no "
                        "parameter"));
  lr->clear_param_names();
  lr->add_module_cls_names("torch.nn.LayerNorm");
  EXPECT_THAT(std::string(BuildParamGroups(params, c).status().message()),
              HasSubstr("'torch.nn.LayerNorm' (torch::nn::LayerNormImpl) owns "
                        "no parameter"));
}

TEST(ParamGroupTest, EveryParameterInExactlyOneGroup) {
  std::vector<NamedParameter> params = ParityParams();
  auto groups = BuildParamGroups(params, ParityOptim());
  ASSERT_TRUE(groups.ok());
  std::vector<int> seen(params.size(), 0);
  for (const ParamGroup& g : *groups) {
    for (size_t i : g.params) ++seen[i];
  }
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(seen[i], 1) << params[i].name;
  }
}

// configs/mose.pbtxt's optimizer with freeze_image_encoder: the frozen
// encoder's parameters are still grouped (its 'image_encoder.*' lr entry and
// the layer decay resolve against every parameter, as construct_optimizer
// does), in the reference's groups and order
// (sam2/training/loop/testdata/reference_trainer_checkpoint.json, written by
// tools/gen_reference_checkpoint.py), and a step moves only trainable ones.
TEST(ParamGroupTest, MoseGroupsWithAFrozenImageEncoderAreTheReferences) {
  std::ifstream config_in(Runfile("configs/mose.pbtxt"));
  std::stringstream text;
  text << config_in.rdbuf();
  config::Experiment mose;
  ASSERT_TRUE(config::ParseTextInto(text.str(), "mose.pbtxt", &mose).ok());
  std::ifstream table_in(
      Runfile("sam2/training/loop/testdata/reference_trainer_checkpoint.json"));
  const nlohmann::json table = nlohmann::json::parse(table_in);

  std::vector<NamedParameter> params = ParityParams();
  for (NamedParameter& p : params) {
    p.param = at::ones_like(p.param);
    const bool frozen = absl::StartsWith(p.name, "image_encoder.");
    p.param.set_requires_grad(!frozen);
    if (!frozen) p.param.mutable_grad() = at::ones_like(p.param);
  }
  auto optimizer = AdamW::Create(params, mose.optim());
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  const std::vector<ParamGroup>& groups = (*optimizer)->groups();
  ASSERT_EQ(groups.size(), table["groups"].size());
  std::vector<std::string> names;
  for (size_t g = 0; g < groups.size(); ++g) {
    const nlohmann::json& ref = table["groups"][g];
    EXPECT_EQ(groups[g].params.size(), ref["params"].size()) << "group " << g;
    for (size_t i : groups[g].params) names.push_back(params[i].name);
    for (const char* where : {"0.0", "0.5", "0.9"}) {
      (*optimizer)->SetProgress(std::stod(where));
      const double lr = ref[std::string("lr@") + where];
      const double wd = ref[std::string("weight_decay@") + where];
      EXPECT_NEAR(groups[g].lr_value, lr, 1e-9 * lr) << g << " @" << where;
      EXPECT_NEAR(groups[g].weight_decay_value, wd, 1e-9 * wd)
          << g << " @" << where;
    }
  }
  EXPECT_EQ(names, table["index_names"].get<std::vector<std::string>>());

  (*optimizer)->Step();
  for (const NamedParameter& p : params) {
    const bool unchanged = at::equal(p.param, at::ones_like(p.param));
    EXPECT_EQ(unchanged, !p.param.requires_grad()) << p.name;
  }
}

TEST(HieraLayerIdTest, AsTheReference) {
  EXPECT_EQ(HieraLayerId("image_encoder.trunk.pos_embed", 6), 0);
  EXPECT_EQ(HieraLayerId("image_encoder.trunk.patch_embed.proj.weight", 6), 0);
  EXPECT_EQ(HieraLayerId("image_encoder.trunk.blocks.0.attn.qkv.weight", 6), 1);
  EXPECT_EQ(HieraLayerId("image_encoder.trunk.blocks.5.mlp.layers.0.bias", 6),
            6);
  EXPECT_EQ(HieraLayerId("image_encoder.trunk.norm.weight", 6), 7);
}

TEST(SchedulerTest, FvcoreSemantics) {
  config::SchedulerConfig c;
  auto* comp = c.mutable_composite();
  auto* warm = comp->add_schedulers()->mutable_linear();
  warm->set_start_value(0);
  warm->set_end_value(1);
  auto* cos = comp->add_schedulers()->mutable_cosine();
  cos->set_start_value(1);
  cos->set_end_value(0);
  comp->add_lengths(0.25);
  comp->add_lengths(0.75);
  auto s = BuildScheduler(c, "lr");
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ((**s)(0.0), 0.0);
  EXPECT_DOUBLE_EQ((**s)(0.125), 0.5);
  EXPECT_NEAR((**s)(0.25), 1.0, 1e-12);
  EXPECT_NEAR((**s)(0.625), 0.5, 1e-12);
  MultiStepScheduler multi({1, 0.1, 0.01}, 90, {});
  EXPECT_EQ(multi(0.0), 1);
  EXPECT_EQ(multi(0.34), 0.1);
  EXPECT_EQ(multi(0.99), 0.01);
  StepScheduler step(120, {0.1, 0.01, 0.001, 0.0001});
  EXPECT_EQ(step(0.26), 0.01);
  EXPECT_EQ(step(0.9), 0.0001);
}

}  // namespace
}  // namespace sam2::training::optim
