// fvcore's schedulers (fvcore.common.param_scheduler) and the layer-decay
// floor; expected values are the fvcore formulas evaluated in Python
// (glibc's pow, as std::pow here).
#include "sam2/training/optim/schedulers.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sam2/training/optim/adamw.h"

namespace sam2::training::optim {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Scheduler> Build(const config::SchedulerConfig& c) {
  auto s = BuildScheduler(c, "lr");
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

TEST(SchedulerTest, Exponential) {
  config::SchedulerConfig c;
  c.mutable_exponential()->set_start_value(0.02);
  c.mutable_exponential()->set_decay(0.1);
  auto s = Build(c);
  ASSERT_NE(s, nullptr);
  // start_value * decay ** where
  EXPECT_DOUBLE_EQ((*s)(0.0), 0.02);
  EXPECT_DOUBLE_EQ((*s)(0.25), 0.011246826503806982);
  EXPECT_DOUBLE_EQ((*s)(0.5), 0.006324555320336759);
  EXPECT_DOUBLE_EQ((*s)(0.9), 0.0025178508235883345);
}

TEST(SchedulerTest, PolynomialDecay) {
  config::SchedulerConfig c;
  c.mutable_polynomial_decay()->set_base_value(0.1);
  c.mutable_polynomial_decay()->set_power(2.0);
  auto square = Build(c);
  c.mutable_polynomial_decay()->set_power(0.9);
  auto root = Build(c);
  ASSERT_NE(square, nullptr);
  ASSERT_NE(root, nullptr);
  // base_value * (1 - where) ** power
  EXPECT_DOUBLE_EQ((*square)(0.0), 0.1);
  EXPECT_DOUBLE_EQ((*square)(0.25), 0.05625);
  EXPECT_DOUBLE_EQ((*square)(0.5), 0.025);
  EXPECT_DOUBLE_EQ((*square)(0.9), 0.0009999999999999996);
  EXPECT_DOUBLE_EQ((*root)(0.25), 0.07718895067235705);
  EXPECT_DOUBLE_EQ((*root)(0.5), 0.05358867312681466);
  EXPECT_DOUBLE_EQ((*root)(0.9), 0.012589254117941671);
}

TEST(SchedulerTest, StepWithFixedGamma) {
  config::SchedulerConfig c;
  auto* g = c.mutable_step_with_fixed_gamma();
  g->set_base_value(0.5);
  g->set_num_decays(3);
  g->set_gamma(0.1);
  g->set_num_updates(100);
  auto s = Build(c);
  ASSERT_NE(s, nullptr);
  // values [0.5, 0.5*0.1, (0.5*0.1)*0.1, ...] indexed by
  // int((where + 1e-6) * 4), exactly as fvcore's StepParamScheduler.
  EXPECT_EQ((*s)(0.0), 0.5);
  EXPECT_EQ((*s)(0.2499), 0.5);
  EXPECT_EQ((*s)(0.25), 0.05);
  EXPECT_EQ((*s)(0.5), 0.005000000000000001);
  EXPECT_EQ((*s)(0.74), 0.005000000000000001);
  EXPECT_EQ((*s)(0.75), 0.0005000000000000001);
  EXPECT_EQ((*s)(0.99), 0.0005000000000000001);
}

TEST(SchedulerTest, StepWithFixedGammaNeedsPositiveArguments) {
  config::SchedulerConfig c;
  auto* g = c.mutable_step_with_fixed_gamma();
  g->set_base_value(0.5);
  g->set_gamma(0.1);
  g->set_num_updates(100);  // num_decays missing
  auto s = BuildScheduler(c, "optim.lr[0].scheduler");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("optim.lr[0].scheduler.step_with_fixed_gamma: needs"));
}

// layer_decay_param_modifier with layer_decay_min: value 0.5 over a 3-block
// trunk (num_layers 4) gives 0.5 ** (4 - layer) = [0.0625, 0.125, 0.25, 0.5,
// 1] per layer, floored at 0.2; overrides are not floored.
TEST(LayerDecayTest, MinimumBoundsTheLayerFactors) {
  std::vector<NamedParameter> params;
  for (const char* name :
       {"image_encoder.trunk.pos_embed", "image_encoder.trunk.blocks.0.w",
        "image_encoder.trunk.blocks.1.w", "image_encoder.trunk.blocks.2.w",
        "image_encoder.trunk.norm.w", "image_encoder.trunk.patch_embed.w",
        "sam_mask_decoder.w"}) {
    params.push_back({name, at::zeros({1}), "x"});
  }
  config::OptimConfig c;
  c.add_lr()->mutable_scheduler()->mutable_constant()->set_value(1.0);
  auto* decay = c.mutable_layer_decay();
  decay->set_layer_decay_value(0.5);
  decay->set_layer_decay_min(0.2);
  auto* override_entry = decay->add_overrides();
  override_entry->set_pattern("*patch_embed*");
  override_entry->set_value(0.01);
  auto optimizer = AdamW::Create(params, c);
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  const std::vector<std::pair<const char*, double>> expected = {
      {"image_encoder.trunk.pos_embed", 0.2},       // layer 0: 0.0625
      {"image_encoder.trunk.blocks.0.w", 0.2},      // layer 1: 0.125
      {"image_encoder.trunk.blocks.1.w", 0.25},     // layer 2
      {"image_encoder.trunk.blocks.2.w", 0.5},      // layer 3
      {"image_encoder.trunk.norm.w", 1.0},          // layer 4
      {"image_encoder.trunk.patch_embed.w", 0.01},  // override
      {"sam_mask_decoder.w", 1.0}};
  for (const auto& [name, lr] : expected) {
    auto hp = (*optimizer)->HyperParametersOf(name);
    ASSERT_TRUE(hp.ok()) << name;
    EXPECT_DOUBLE_EQ(hp->first, lr) << name;
  }
  decay->clear_layer_decay_min();
  auto unbounded = AdamW::Create(params, c);
  ASSERT_TRUE(unbounded.ok());
  EXPECT_DOUBLE_EQ(
      (*unbounded)->HyperParametersOf("image_encoder.trunk.pos_embed")->first,
      0.0625);
}

}  // namespace
}  // namespace sam2::training::optim
