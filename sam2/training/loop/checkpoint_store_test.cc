#include "sam2/training/loop/checkpoint_store.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "base/testing/temp_dir.h"
#include "sam2/checkpoint/torch_file.h"

namespace sam2::training {
namespace {

std::string Temp(const std::string& name) {
  return ::sam2::testutil::TempPath(name);
}

TEST(TorchCheckpointStoreTest, RoundTripAndOfficialModelPart) {
  TrainerCheckpoint c;
  c.model = {{"image_encoder.trunk.pos_embed", at::randn({1, 4, 7, 7})},
             {"no_mem_embed", at::randn({1, 1, 8})}};
  c.optimizer = {
      {"image_encoder.trunk.pos_embed.exp_avg", at::randn({4})},
      {"image_encoder.trunk.pos_embed.step", at::scalar_tensor(3.0)}};
  c.epoch = 2;
  c.next_batch = 17;
  c.step = 123456789012LL;
  c.val_step = 5;
  c.nonfinite_skipped = 1;
  c.time_elapsed = 12.5;
  c.loss_scale = 32768.0;
  c.loss_scale_growth_tracker = 17;
  c.world_size = 2;
  c.gradient_accumulation_steps = 4;
  c.global_batch = 16;
  TorchCheckpointStore store;
  const std::string path = Temp("trainer.pt");
  ASSERT_TRUE(store.Save(path, c).ok());
  absl::StatusOr<TrainerCheckpoint> back = store.Load(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->epoch, 2);
  EXPECT_EQ(back->next_batch, 17);
  EXPECT_EQ(back->step, 123456789012LL);
  EXPECT_EQ(back->val_step, 5);
  EXPECT_EQ(back->nonfinite_skipped, 1);
  EXPECT_DOUBLE_EQ(back->time_elapsed, 12.5);
  EXPECT_EQ(back->loss_scale, 32768.0);
  EXPECT_EQ(back->loss_scale_growth_tracker, 17);
  EXPECT_EQ(back->world_size, 2);
  EXPECT_EQ(back->gradient_accumulation_steps, 4);
  EXPECT_EQ(back->global_batch, 16);
  ASSERT_EQ(back->model.size(), 2u);
  EXPECT_TRUE(at::equal(back->model[0].second, c.model[0].second));
  EXPECT_TRUE(at::equal(back->optimizer[1].second, c.optimizer[1].second));
  // The model part is an official-format state_dict.
  absl::StatusOr<checkpoint::TensorDict> model =
      checkpoint::LoadStateDict(path);
  ASSERT_TRUE(model.ok());
  EXPECT_EQ((*model)[1].first, "no_mem_embed");
}

TEST(TorchCheckpointStoreTest, OfficialCheckpointIsNotAResumePoint) {
  const std::string path = Temp("official.pt");
  ASSERT_TRUE(
      checkpoint::SaveModelCheckpoint(path, {{"w", at::ones({1})}}).ok());
  TorchCheckpointStore store;
  absl::StatusOr<TrainerCheckpoint> c = store.Load(path);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              ::testing::HasSubstr(
                  "is neither a sam2-train-cpp nor a reference-trainer "
                  "training checkpoint"));
}

}  // namespace
}  // namespace sam2::training
