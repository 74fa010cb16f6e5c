#include "data/loader/loader.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "base/testing/temp_dir.h"
#include "data/codecs/file_io.h"
#include "data/datasets/vos_dataset.h"
#include "data/sampling/vos_sampler.h"
#include "data/synthetic/synthetic_vos.h"
#include "data/transforms/transforms.h"

namespace sam2::data {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int kVideos = 6;

std::string MakeData(const std::string& name) {
  const std::string dir = testutil::FreshTempDir(name);
  SyntheticVosOptions o;
  o.output_dir = dir;
  o.num_videos = kVideos;
  o.num_frames = 6;
  o.num_objects = 3;
  o.height = 48;
  o.width = 64;
  o.seed = 11;
  o.per_object_png = false;
  o.sa1b = false;
  o.sav = false;
  EXPECT_TRUE(WriteSyntheticVos(o).ok());
  return dir;
}

std::shared_ptr<const SampleSource> Dataset(const std::string& dir,
                                            bool training = true,
                                            float multiplier = 1.0f) {
  PngRawDatasetOptions raw;
  raw.img_folder = dir + "/davis/JPEGImages";
  raw.gt_folder = dir + "/davis/Annotations";
  auto videos = PngRawDataset::Create(raw);
  EXPECT_TRUE(videos.ok());
  VosDatasetOptions o;
  o.training = training;
  o.multiplier = multiplier;
  std::shared_ptr<const VosSampler> sampler =
      training ? std::shared_ptr<const VosSampler>(
                     std::make_shared<RandomUniformSampler>(3, 2))
               : std::make_shared<EvalSampler>();
  return std::make_shared<VosDataset>(
      std::shared_ptr<const VosRawDataset>(std::move(*videos)), sampler,
      std::shared_ptr<const Transform>(MoseTrainTransforms(32)), o);
}

std::unique_ptr<DataLoader> MakeLoader(
    std::shared_ptr<const SampleSource> dataset, int workers, int batch = 2,
    int rank = 0, int world = 1, int shards_here = 1) {
  LoaderOptions o;
  o.num_workers = workers;
  o.prefetch_batches = 3;
  o.seed = 123;
  o.first_shard = rank;
  o.num_shards = world;
  o.shards_here = shards_here;
  o.on_warning = [](const std::string&) {};
  auto loader = DataLoader::Create({{dataset, batch, true}}, o);
  EXPECT_TRUE(loader.ok()) << loader.status();
  return std::move(*loader);
}

std::vector<BatchedVideoDatapoint> Drain(DataLoader& loader) {
  std::vector<BatchedVideoDatapoint> out;
  while (true) {
    auto next = loader.Next();
    EXPECT_TRUE(next.ok()) << next.status();
    if (!next.ok() || !next->has_value()) break;
    out.push_back(std::move(**next));
  }
  return out;
}

bool Equal(const BatchedVideoDatapoint& a, const BatchedVideoDatapoint& b) {
  return a.img_batch.equal(b.img_batch) && a.masks.equal(b.masks) &&
         a.obj_to_frame_idx.equal(b.obj_to_frame_idx) &&
         a.metadata.unique_objects_identifier.equal(
             b.metadata.unique_objects_identifier) &&
         a.metadata.frame_orig_size.equal(b.metadata.frame_orig_size) &&
         a.dict_key == b.dict_key;
}

std::set<int64_t> VideoIds(const std::vector<BatchedVideoDatapoint>& batches) {
  std::set<int64_t> ids;
  for (const auto& b : batches) {
    at::Tensor v = b.metadata.unique_objects_identifier.select(2, 0);
    for (int64_t i = 0; i < v.numel(); ++i) {
      ids.insert(v.flatten()[i].item<int64_t>());
    }
  }
  return ids;
}

TEST(DataLoaderTest, SameBatchesWithAnyNumberOfWorkers) {
  const std::string dir = MakeData("workers");
  auto dataset = Dataset(dir);
  std::vector<std::vector<BatchedVideoDatapoint>> runs;
  for (int workers : {0, 1, 4}) {
    auto loader = MakeLoader(dataset, workers);
    ASSERT_TRUE(loader->StartEpoch(0).ok());
    EXPECT_EQ(loader->num_batches(), kVideos / 2);
    runs.push_back(Drain(*loader));
  }
  ASSERT_EQ(runs[0].size(), static_cast<size_t>(kVideos / 2));
  for (size_t r = 1; r < runs.size(); ++r) {
    ASSERT_EQ(runs[r].size(), runs[0].size());
    for (size_t i = 0; i < runs[0].size(); ++i) {
      EXPECT_TRUE(Equal(runs[0][i], runs[r][i]))
          << "run " << r << " batch " << i;
    }
  }
  const BatchedVideoDatapoint& b = runs[0][0];
  EXPECT_EQ(b.img_batch.sizes(), (at::IntArrayRef{3, 2, 3, 32, 32}));
  EXPECT_EQ(b.masks.size(0), 3);
  EXPECT_EQ(b.masks.size(2), 32);
  EXPECT_EQ(b.dict_key, "all");
  // Every video once in an epoch.
  EXPECT_EQ(VideoIds(runs[0]).size(), static_cast<size_t>(kVideos));
}

TEST(DataLoaderTest, DeliversInPlanOrderAndEpochsDiffer) {
  const std::string dir = MakeData("order");
  auto loader = MakeLoader(Dataset(dir), 3);
  ASSERT_TRUE(loader->StartEpoch(1).ok());
  const std::vector<BatchedVideoDatapoint> epoch1 = Drain(*loader);
  for (size_t i = 0; i < epoch1.size(); ++i) {
    auto direct = loader->LoadBatch(1, static_cast<int64_t>(i));
    ASSERT_TRUE(direct.ok());
    EXPECT_TRUE(Equal(*direct, epoch1[i])) << i;
  }
  // The end stays the end.
  auto end = loader->Next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
  ASSERT_TRUE(loader->StartEpoch(2).ok());
  const std::vector<BatchedVideoDatapoint> epoch2 = Drain(*loader);
  ASSERT_EQ(epoch2.size(), epoch1.size());
  EXPECT_FALSE(Equal(epoch1[0], epoch2[0]));
}

TEST(DataLoaderTest, ResumeFromSavedPosition) {
  const std::string dir = MakeData("resume");
  auto dataset = Dataset(dir, true, 2.0f);  // 12 samples per epoch
  auto first = MakeLoader(dataset, 2);
  ASSERT_TRUE(first->StartEpoch(3).ok());
  ASSERT_EQ(first->num_batches(), kVideos);
  std::vector<BatchedVideoDatapoint> all = Drain(*first);
  ASSERT_TRUE(first->StartEpoch(3).ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(first->Next().ok());
  const LoaderPosition saved = first->position();
  EXPECT_EQ(saved.epoch, 3);
  EXPECT_EQ(saved.batch, 2);
  first.reset();  // destroyed with prefetched batches in flight

  auto resumed = MakeLoader(dataset, 3);
  ASSERT_TRUE(resumed->Restore(saved).ok());
  std::vector<BatchedVideoDatapoint> rest = Drain(*resumed);
  ASSERT_EQ(rest.size(), all.size() - 2);
  for (size_t i = 0; i < rest.size(); ++i) {
    EXPECT_TRUE(Equal(rest[i], all[i + 2])) << i;
  }
  EXPECT_FALSE(resumed->StartEpoch(3, 100).ok());
}

TEST(DataLoaderTest, RanksGetDisjointEqualShares) {
  const std::string dir = MakeData("ranks");
  auto dataset = Dataset(dir);
  std::vector<std::set<int64_t>> ids;
  for (int rank = 0; rank < 2; ++rank) {
    auto loader = MakeLoader(dataset, 1, /*batch=*/1, rank, /*world=*/2);
    ASSERT_TRUE(loader->StartEpoch(0).ok());
    EXPECT_EQ(loader->num_batches(), kVideos / 2);
    ids.push_back(VideoIds(Drain(*loader)));
  }
  std::set<int64_t> both = ids[0];
  both.insert(ids[1].begin(), ids[1].end());
  EXPECT_EQ(ids[0].size() + ids[1].size(), static_cast<size_t>(kVideos));
  EXPECT_EQ(both.size(), static_cast<size_t>(kVideos));
}

// A rank holding micro-batch slots 0 and 1 of a 4-slot step delivers, in
// turn, exactly the batches (bitwise, augmentations included) that two
// ranks holding one slot each would: a slot's data does not depend on the
// rank that loads it.
TEST(DataLoaderTest, SeveralShardsInterleaveExactlyAsSeparateLoaders) {
  const std::string dir = MakeData("slots");
  auto dataset = Dataset(dir);
  for (int workers : {0, 2}) {
    auto both = MakeLoader(dataset, workers, /*batch=*/1, /*rank=*/2,
                           /*world=*/4, /*shards_here=*/2);
    auto shard2 = MakeLoader(dataset, 1, 1, 2, 4);
    auto shard3 = MakeLoader(dataset, 1, 1, 3, 4);
    ASSERT_TRUE(both->StartEpoch(1).ok());
    ASSERT_TRUE(shard2->StartEpoch(1).ok());
    ASSERT_TRUE(shard3->StartEpoch(1).ok());
    const auto interleaved = Drain(*both);
    const auto a = Drain(*shard2), b = Drain(*shard3);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_GT(a.size(), 0u);
    ASSERT_EQ(interleaved.size(), 2 * a.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(Equal(interleaved[2 * i], a[i])) << i;
      EXPECT_TRUE(Equal(interleaved[2 * i + 1], b[i])) << i;
    }
    EXPECT_FALSE(Equal(a[0], b[0]));
    // Resuming at delivery index 3 (shard 3's batch 1).
    ASSERT_TRUE(both->StartEpoch(1, 3).ok());
    auto next = both->Next();
    ASSERT_TRUE(next.ok() && next->has_value());
    EXPECT_TRUE(Equal(**next, b[1]));
  }
}

TEST(DataLoaderTest, MixedGroupsKeepTheirBatchSizes) {
  const std::string dir = MakeData("mixed");
  LoaderOptions o;
  o.num_workers = 2;
  o.on_warning = [](const std::string&) {};
  auto loader =
      DataLoader::Create({{Dataset(dir), 1, true}, {Dataset(dir), 3, true}}, o);
  ASSERT_TRUE(loader.ok()) << loader.status();
  ASSERT_TRUE((*loader)->StartEpoch(0).ok());
  const auto batches = Drain(**loader);
  ASSERT_EQ(batches.size(), static_cast<size_t>(kVideos + kVideos / 3));
  int ones = 0, threes = 0;
  for (const auto& b : batches) {
    ones += b.num_videos() == 1;
    threes += b.num_videos() == 3;
  }
  EXPECT_EQ(ones, kVideos);
  EXPECT_EQ(threes, kVideos / 3);
}

TEST(DataLoaderTest, BadBatchIsAnErrorInItsTurnThenIterationGoesOn) {
  const std::string dir = MakeData("eval_error");
  // Evaluation: the broken video's batch fails, naming the file.
  const std::string broken = dir + "/davis/JPEGImages/synth_0002/00000.jpg";
  ASSERT_TRUE(WriteStringToFile(broken, "junk").ok());
  LoaderOptions o;
  o.num_workers = 2;
  o.shuffle = false;
  o.drop_last = false;
  auto loader = DataLoader::Create({{Dataset(dir, false), 1, false}}, o);
  ASSERT_TRUE(loader.ok());
  ASSERT_TRUE((*loader)->StartEpoch(0).ok());
  int ok = 0, failed = 0;
  while (true) {
    auto next = (*loader)->Next();
    if (!next.ok()) {
      ++failed;
      EXPECT_THAT(next.status().message(), HasSubstr(broken));
      continue;
    }
    if (!next->has_value()) break;
    ++ok;
  }
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(ok, kVideos - 1);
}

TEST(DataLoaderTest, TrainingSkipsBadSamplesAndCounts) {
  const std::string dir = MakeData("train_skip");
  for (int f = 0; f < 6; ++f) {
    const std::string path =
        dir + "/davis/JPEGImages/synth_0003/0000" + std::to_string(f) + ".jpg";
    ASSERT_TRUE(fs::exists(path));
    ASSERT_TRUE(WriteStringToFile(path, "junk").ok());
  }
  std::vector<std::string> warnings;
  std::mutex mu;
  LoaderOptions o;
  o.num_workers = 2;
  o.on_warning = [&](const std::string& w) {
    std::lock_guard<std::mutex> lock(mu);
    warnings.push_back(w);
  };
  auto loader = DataLoader::Create({{Dataset(dir), 2, true}}, o);
  ASSERT_TRUE(loader.ok());
  ASSERT_TRUE((*loader)->StartEpoch(0).ok());
  EXPECT_EQ(Drain(**loader).size(), static_cast<size_t>(kVideos / 2));
  EXPECT_GE((*loader)->stats().bad_samples_skipped.load(), 1);
  ASSERT_FALSE(warnings.empty());
  EXPECT_THAT(warnings[0], HasSubstr("synth_0003"));
}

TEST(DataLoaderTest, MisuseAndShutdown) {
  const std::string dir = MakeData("misuse");
  auto loader = MakeLoader(Dataset(dir), 2);
  auto early = loader->Next();
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  // Restart mid-epoch, then destroy with work in flight: must not hang.
  ASSERT_TRUE(loader->StartEpoch(0).ok());
  ASSERT_TRUE(loader->Next().ok());
  ASSERT_TRUE(loader->StartEpoch(1, 1).ok());
  EXPECT_EQ(loader->position().batch, 1);
  loader.reset();
  // Never started.
  auto idle = MakeLoader(Dataset(dir), 4);
  idle.reset();
  LoaderOptions bad;
  bad.prefetch_batches = 0;
  EXPECT_FALSE(DataLoader::Create({{Dataset(dir), 1, true}}, bad).ok());
  bad = LoaderOptions();
  bad.first_shard = 3;
  bad.num_shards = 2;
  EXPECT_FALSE(DataLoader::Create({{Dataset(dir), 1, true}}, bad).ok());
  bad.first_shard = 1;
  bad.shards_here = 2;
  EXPECT_FALSE(DataLoader::Create({{Dataset(dir), 1, true}}, bad).ok());
}

}  // namespace
}  // namespace sam2::data
