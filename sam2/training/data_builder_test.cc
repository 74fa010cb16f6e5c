#include "sam2/training/data_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "base/testing/temp_dir.h"
#include "configs/loader.h"
#include "data/synthetic/synthetic_vos.h"

namespace sam2::training {
namespace {

std::string MakeData() {
  const std::string dir = ::sam2::testutil::FreshTempDir("synth");
  data::SyntheticVosOptions o;
  o.output_dir = dir;
  o.num_videos = 3;
  o.num_frames = 6;
  o.height = 48;
  o.width = 64;
  o.sa1b = false;
  o.sav = false;
  o.per_object_png = false;
  EXPECT_TRUE(data::WriteSyntheticVos(o).ok());
  return dir + "/davis";
}

config::MixedDatasetConfig Parse(const std::string& text) {
  config::MixedDatasetConfig c;
  EXPECT_TRUE(config::ParseTextInto(text, "test", &c).ok());
  config::Experiment e;
  *e.mutable_data()->mutable_train() = c;
  config::ResolveDefaults("test", &e);
  return e.data().train();
}

TEST(DataBuilderTest, LoaderFromConfigYieldsBatches) {
  const std::string root = MakeData();
  const config::MixedDatasetConfig c = Parse(absl::StrCat(
      "num_workers: 2 datasets { batch_size: 2 concat {"
      "  png { img_folder: '",
      root, "/JPEGImages' gt_folder: '", root,
      "/Annotations' }"
      "  random_uniform_sampler { num_frames: 4 max_num_objects: 2 }"
      "  transforms { random_horizontal_flip {} }"
      "  transforms { random_affine { degrees: 10 shear: 5 "
      "               image_interpolation: 'bilinear' } }"
      "  transforms { random_resize { sizes: 32 square: true } }"
      "  transforms { color_jitter { brightness: 0.1 contrast: 0.03 "
      "               saturation: 0.03 } }"
      "  transforms { random_grayscale { p: 0.05 } }"
      "  transforms { to_tensor {} }"
      "  transforms { normalize {} }"
      "} }"));
  DataBuildContext context;
  context.seed = 3;
  auto loader = BuildDataLoader(c, context, "data.train");
  ASSERT_TRUE(loader.ok()) << loader.status();
  LoaderBatchSource source(std::move(*loader));
  // 3 videos, batch 2, drop_last: one batch per epoch.
  EXPECT_EQ(source.batches_per_epoch(), 1);
  ASSERT_TRUE(source.Start(0, 0).ok());
  auto batch = source.Next();
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_TRUE(batch->has_value());
  const data::BatchedVideoDatapoint& b = **batch;
  EXPECT_EQ(b.img_batch.sizes(), at::IntArrayRef({4, 2, 3, 32, 32}));
  EXPECT_EQ(b.masks.size(0), 4);
  EXPECT_EQ(b.masks.size(2), 32);
  EXPECT_LE(b.masks.size(1), 4);
  auto end = source.Next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
  EXPECT_EQ(source.Counters()[0].first, "bad_samples_skipped");
}

TEST(DataBuilderTest, MissingFolderIsNamedWithTheConfigPath) {
  const config::MixedDatasetConfig c = Parse(
      "datasets { concat { png { img_folder: '/nonexistent/JPEGImages' "
      "gt_folder: '/nonexistent/Annotations' } random_uniform_sampler {} } }");
  auto loader = BuildDataLoader(c, {}, "data.train");
  ASSERT_FALSE(loader.ok());
  EXPECT_THAT(std::string(loader.status().message()),
              ::testing::HasSubstr("data.train.datasets[0].concat[0].png"));
}

TEST(DataBuilderTest, TransformsFromTheMoseConfig) {
  absl::StatusOr<config::LoadedExperiment> mose =
      config::LoadExperiment({"mose", {}, {}});
  ASSERT_TRUE(mose.ok()) << mose.status();
  auto transforms = BuildTransforms(
      mose->experiment.data().train().datasets(0).concat(0).transforms(),
      "transforms");
  ASSERT_TRUE(transforms.ok()) << transforms.status();
  const auto* compose = dynamic_cast<const data::Compose*>(transforms->get());
  ASSERT_NE(compose, nullptr);
  ASSERT_EQ(compose->transforms().size(), 8u);
  EXPECT_EQ(compose->transforms()[1]->Name(), "RandomAffine");
  EXPECT_EQ(compose->transforms()[7]->Name(), "NormalizeAPI");
}

// The reference's RandomAffine raises NotImplementedError for anything but
// "bicubic" / "bilinear"; the builder rejects it, naming the field.
TEST(DataBuilderTest, RandomAffineRejectsOtherImageInterpolations) {
  config::VOSDatasetConfig list;
  ASSERT_TRUE(config::ParseTextInto("transforms { random_affine { degrees: 10 "
                                    "image_interpolation: 'nearest' } }",
                                    "test", &list)
                  .ok());
  auto transforms = BuildTransforms(list.transforms(), "t");
  ASSERT_FALSE(transforms.ok());
  EXPECT_EQ(transforms.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(transforms.status().message()),
              ::testing::AllOf(
                  ::testing::HasSubstr("random_affine.image_interpolation"),
                  ::testing::HasSubstr("\"nearest\"")));
  for (const char* ok : {"bicubic", "bilinear"}) {
    ASSERT_TRUE(config::ParseTextInto(
                    absl::StrCat("transforms { random_affine { degrees: 10 "
                                 "image_interpolation: '",
                                 ok, "' } }"),
                    "test", &list)
                    .ok());
    EXPECT_TRUE(BuildTransforms(list.transforms(), "t").ok()) << ok;
  }
}

}  // namespace
}  // namespace sam2::training
