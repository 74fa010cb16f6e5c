// The list defaults of the experiment path (configs/defaults.h) equal the
// constructor defaults of the network and data option structs, which keep
// their own (as the reference's classes do) so that they can be built
// without a config. If one side changes, this fails.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "configs/defaults.h"
#include "configs/loader.h"
#include "data/transforms/transforms.h"
#include "sam2/modeling/backbones/hieradet.h"
#include "sam2/modeling/memory_attention.h"
#include "sam2/training/model_builder.h"

namespace sam2::training {
namespace {

namespace defaults = config::defaults;

template <typename Table>
std::vector<int64_t> Ints(const Table& table) {
  return std::vector<int64_t>(table.begin(), table.end());
}

template <typename Values>
std::vector<int64_t> IntsOf(const Values& values) {
  return std::vector<int64_t>(values.begin(), values.end());
}

TEST(ConfigDefaultsTest, HieraListsAreHieraOptionsDefaults) {
  const modeling::HieraOptions hiera;
  EXPECT_EQ(Ints(defaults::kHieraQStride), IntsOf(hiera.q_stride));
  EXPECT_EQ(Ints(defaults::kHieraStages), hiera.stages);
  EXPECT_EQ(Ints(defaults::kHieraWindowPosEmbedBkgSpatialSize),
            IntsOf(hiera.window_pos_embed_bkg_spatial_size));
  EXPECT_EQ(Ints(defaults::kHieraWindowSpec), hiera.window_spec);
  EXPECT_EQ(Ints(defaults::kHieraGlobalAttBlocks), hiera.global_att_blocks);
}

TEST(ConfigDefaultsTest, RopeGridIsTheMemoryAttentionDefault) {
  const modeling::MemoryAttentionLayerOptions layer;
  EXPECT_EQ(Ints(defaults::kRopeFeatSizes),
            IntsOf(layer.self_attention.rope.feat_sizes));
  EXPECT_EQ(Ints(defaults::kRopeFeatSizes),
            IntsOf(layer.cross_attention.rope.feat_sizes));
}

TEST(ConfigDefaultsTest, DataListsAreTheTransformsDefaults) {
  EXPECT_EQ(defaults::kNormalizeMean, data::kImageNetMean);
  EXPECT_EQ(defaults::kNormalizeStd, data::kImageNetStd);
  const data::RandomAffineOptions affine;
  EXPECT_EQ(Ints(defaults::kRandomAffineImageMean), IntsOf(affine.image_mean));
}

// Through the whole experiment path: a trunk and RoPE blocks that set no list
// come out as the default-constructed options.
TEST(ConfigDefaultsTest, EmptyListsResolveToTheModelingDefaults) {
  config::Experiment experiment;
  ASSERT_TRUE(
      config::ParseTextInto("model { image_encoder { trunk { } neck { } } "
                            "memory_attention { layer { self_attention { } "
                            "cross_attention { } } } }",
                            "test", &experiment)
          .ok());
  config::ResolveDefaults("test", &experiment);
  auto options = ModelOptionsFromConfig(experiment.model());
  ASSERT_TRUE(options.ok()) << options.status();
  const modeling::HieraOptions hiera;
  const modeling::HieraOptions& trunk = options->base.image_encoder.trunk;
  EXPECT_EQ(trunk.q_stride, hiera.q_stride);
  EXPECT_EQ(trunk.stages, hiera.stages);
  EXPECT_EQ(trunk.window_pos_embed_bkg_spatial_size,
            hiera.window_pos_embed_bkg_spatial_size);
  EXPECT_EQ(trunk.window_spec, hiera.window_spec);
  EXPECT_EQ(trunk.global_att_blocks, hiera.global_att_blocks);
  const modeling::MemoryAttentionLayerOptions layer;
  EXPECT_EQ(
      options->base.memory_attention.layer.cross_attention.rope.feat_sizes,
      layer.cross_attention.rope.feat_sizes);
}

TEST(ConfigDefaultsTest, CheckpointKeysAreTheOfficialLayout) {
  config::Experiment experiment;
  experiment.mutable_checkpoint()->mutable_model_weight_initializer();
  config::ResolveDefaults("test", &experiment);
  const auto& keys =
      experiment.checkpoint().model_weight_initializer().ckpt_state_dict_keys();
  ASSERT_EQ(keys.size(), 1);
  EXPECT_EQ(keys[0], "model");
}

}  // namespace
}  // namespace sam2::training
