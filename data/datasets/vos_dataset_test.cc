#include "data/datasets/vos_dataset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/testing/temp_dir.h"
#include "data/codecs/file_io.h"
#include "data/codecs/png.h"
#include "data/synthetic/synthetic_vos.h"

namespace sam2::data {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int kVideos = 3, kFrames = 8, kObjects = 3, kH = 48, kW = 64;

std::string MakeData(const std::string& name) {
  const std::string dir = testutil::FreshTempDir(name);
  SyntheticVosOptions o;
  o.output_dir = dir;
  o.num_videos = kVideos;
  o.num_frames = kFrames;
  o.num_objects = kObjects;
  o.height = kH;
  o.width = kW;
  o.seed = 3;
  o.per_object_png = false;
  o.sa1b = false;
  EXPECT_TRUE(WriteSyntheticVos(o).ok());
  return dir;
}

std::shared_ptr<const VosRawDataset> Davis(const std::string& dir) {
  PngRawDatasetOptions o;
  o.img_folder = dir + "/davis/JPEGImages";
  o.gt_folder = dir + "/davis/Annotations";
  auto ds = PngRawDataset::Create(o);
  EXPECT_TRUE(ds.ok()) << ds.status();
  return std::shared_ptr<const VosRawDataset>(std::move(*ds));
}

std::shared_ptr<const VosRawDataset> Sav(const std::string& dir) {
  JsonRawDatasetOptions o;
  o.img_folder = dir + "/sav/JPEGImages_24fps";
  o.gt_folder = dir + "/sav/sav_train";
  o.ann_every = 4;
  auto ds = JsonRawDataset::Create(o);
  EXPECT_TRUE(ds.ok()) << ds.status();
  return std::shared_ptr<const VosRawDataset>(std::move(*ds));
}

VosDataset MakeDataset(std::shared_ptr<const VosRawDataset> raw, bool training,
                       int num_frames = kFrames, bool always_target = true) {
  VosDatasetOptions o;
  o.training = training;
  o.always_target = always_target;
  std::shared_ptr<const VosSampler> sampler =
      training ? std::shared_ptr<const VosSampler>(
                     std::make_shared<RandomUniformSampler>(num_frames, 3))
               : std::make_shared<EvalSampler>();
  return VosDataset(std::move(raw), sampler, MoseTrainTransforms(32), o);
}

std::string FramePath(const std::string& dir, int video, int frame) {
  char name[64];
  std::snprintf(name, sizeof(name), "/davis/JPEGImages/synth_%04d/%05d.jpg",
                video + 1, frame);
  return dir + name;
}

std::string MaskPath(const std::string& dir, int video, int frame) {
  char name[64];
  std::snprintf(name, sizeof(name), "/davis/Annotations/synth_%04d/%05d.png",
                video + 1, frame);
  return dir + name;
}

TEST(VosDatasetTest, SampleThroughMoseChain) {
  const std::string dir = MakeData("good");
  VosDataset ds = MakeDataset(Davis(dir), true, 4);
  EXPECT_EQ(ds.size(), kVideos);
  SampleContext ctx(1);
  auto dp = ds.Get(1, ctx);
  ASSERT_TRUE(dp.ok()) << dp.status();
  ASSERT_EQ(dp->frames.size(), 4u);
  EXPECT_EQ(dp->video_id, 1);
  EXPECT_EQ(dp->size, (ImageSize{kH, kW}));
  const size_t objects = dp->frames[0].objects.size();
  EXPECT_GE(objects, 1u);
  EXPECT_LE(objects, 3u);
  for (const Frame& f : dp->frames) {
    EXPECT_TRUE(f.is_float());
    EXPECT_EQ(f.image.height, 32);
    ASSERT_EQ(f.objects.size(), objects);  // always_target
    for (size_t i = 0; i < objects; ++i) {
      EXPECT_EQ(f.objects[i].object_id, dp->frames[0].objects[i].object_id);
      EXPECT_EQ(f.objects[i].segment.height, 32);
    }
  }
  // Consecutive frame indices.
  const int64_t f0 = dp->frames[0].objects[0].frame_index;
  const int64_t f1 = dp->frames[1].objects[0].frame_index;
  EXPECT_EQ(std::abs(f1 - f0), 1);
  // Same seed, same sample.
  SampleContext again(1);
  auto dp2 = ds.Get(1, again);
  ASSERT_TRUE(dp2.ok());
  EXPECT_EQ(dp2->frames[2].image.data, dp->frames[2].image.data);
  EXPECT_EQ(ds.repeat_factors(), std::vector<float>(kVideos, 1.0f));
}

TEST(VosDatasetTest, AlwaysTargetGivesZeroMasksForAbsentObjects) {
  const std::string dir = MakeData("absent");
  // Video 0: object 2 missing from every frame but the first.
  for (int f = 1; f < kFrames; ++f) {
    PngInfo info;
    Image labels = *ReadPngFile(MaskPath(dir, 0, f), &info);
    for (uint8_t& v : labels.data) {
      if (v == 2) v = 0;
    }
    ASSERT_TRUE(
        WritePalettePngFile(MaskPath(dir, 0, f), labels, DavisPalette()).ok());
  }
  VosDatasetOptions o;
  o.training = false;
  VosDataset with(Davis(dir), std::make_shared<EvalSampler>(), nullptr, o);
  SampleContext ctx(0);
  auto dp = with.Get(0, ctx);
  ASSERT_TRUE(dp.ok()) << dp.status();
  const std::vector<Object>& last = dp->frames.back().objects;
  ASSERT_EQ(last.size(), dp->frames[0].objects.size());
  for (const Object& obj : last) {
    if (obj.object_id == 2) EXPECT_EQ(obj.segment.Area(), 0);
  }
  o.always_target = false;
  VosDataset without(Davis(dir), std::make_shared<EvalSampler>(), nullptr, o);
  auto dp2 = without.Get(0, ctx);
  ASSERT_TRUE(dp2.ok());
  EXPECT_EQ(dp2->frames[0].objects.size(), dp->frames[0].objects.size());
  EXPECT_LT(dp2->frames.back().objects.size(), last.size());
  for (const Object& obj : dp2->frames.back().objects) {
    EXPECT_NE(obj.object_id, 2);
    EXPECT_GT(obj.segment.Area(), 0);
  }
}

// A bad video 0 and the file its error must name. Training replaces it by
// a good video (warning + counter), evaluation fails naming the file.
void ExpectSkippedInTrainingAndErrorInEval(
    std::shared_ptr<const VosRawDataset> raw, const std::string& expected) {
  DataStats stats;
  std::vector<std::string> warnings;
  VosDataset train = MakeDataset(raw, true);
  SampleContext ctx(
      7, [&](const std::string& w) { warnings.push_back(w); }, &stats);
  auto dp = train.Get(0, ctx);
  ASSERT_TRUE(dp.ok()) << dp.status();
  EXPECT_NE(dp->video_id, 0);
  EXPECT_GE(stats.bad_samples_skipped.load(), 1);
  ASSERT_FALSE(warnings.empty());
  EXPECT_THAT(warnings[0], HasSubstr(expected));

  VosDataset eval = MakeDataset(raw, false);
  SampleContext ectx(7);
  auto err = eval.Get(0, ectx);
  ASSERT_FALSE(err.ok());
  EXPECT_THAT(err.status().message(), HasSubstr(expected));
}

TEST(BadDataTest, TruncatedJpeg) {
  const std::string dir = MakeData("truncated_jpeg");
  for (int f = 0; f < kFrames; ++f) {
    const std::string path = FramePath(dir, 0, f);
    const std::string bytes = *ReadFileToString(path);
    ASSERT_TRUE(
        WriteStringToFile(path, bytes.substr(0, bytes.size() / 2)).ok());
  }
  ExpectSkippedInTrainingAndErrorInEval(Davis(dir), "synth_0001/0000");
}

TEST(BadDataTest, CorruptPngMask) {
  const std::string dir = MakeData("corrupt_png");
  ASSERT_TRUE(WriteStringToFile(MaskPath(dir, 0, 0), "not a png").ok());
  ExpectSkippedInTrainingAndErrorInEval(Davis(dir), MaskPath(dir, 0, 0));
}

TEST(BadDataTest, MissingMask) {
  const std::string dir = MakeData("missing_mask");
  fs::remove(MaskPath(dir, 0, 3));
  ExpectSkippedInTrainingAndErrorInEval(Davis(dir), "synth_0001");
}

TEST(BadDataTest, MaskSizeDiffersFromFrame) {
  const std::string dir = MakeData("mask_size");
  Image labels(kH / 2, kW, 1);
  for (size_t i = 0; i < labels.data.size(); ++i) labels.data[i] = i % 4;
  for (int f = 0; f < kFrames; ++f) {
    ASSERT_TRUE(
        WritePalettePngFile(MaskPath(dir, 0, f), labels, DavisPalette()).ok());
  }
  ExpectSkippedInTrainingAndErrorInEval(Davis(dir), "synth_0001");
}

TEST(BadDataTest, VideoShorterThanNumFrames) {
  const std::string dir = MakeData("short");
  for (int f = 5; f < kFrames; ++f) fs::remove(FramePath(dir, 0, f));
  // Training only (evaluation takes every frame there is).
  DataStats stats;
  std::vector<std::string> warnings;
  VosDataset train = MakeDataset(Davis(dir), true);
  SampleContext ctx(
      1, [&](const std::string& w) { warnings.push_back(w); }, &stats);
  auto dp = train.Get(0, ctx);
  ASSERT_TRUE(dp.ok()) << dp.status();
  EXPECT_EQ(stats.bad_samples_skipped.load(), 1);
  EXPECT_THAT(warnings[0], HasSubstr("synth_0001"));
  EXPECT_THAT(warnings[0], HasSubstr("only has 5"));
}

TEST(BadDataTest, FirstFrameWithoutObjects) {
  const std::string dir = MakeData("no_objects");
  Image zeros(kH, kW, 1);
  for (int f = 0; f < kFrames; ++f) {
    ASSERT_TRUE(
        WritePalettePngFile(MaskPath(dir, 0, f), zeros, DavisPalette()).ok());
  }
  ExpectSkippedInTrainingAndErrorInEval(Davis(dir), "synth_0001");
}

TEST(BadDataTest, MalformedJsonAndBadRle) {
  const std::string dir = MakeData("bad_json");
  const std::string json = dir + "/sav/sav_train/sav_000001_manual.json";
  const std::string text = *ReadFileToString(json);
  ASSERT_TRUE(WriteStringToFile(json, text.substr(0, text.size() / 2)).ok());
  {
    // SA-V videos here have 2 annotated frames (8 frames, every 4th).
    VosDatasetOptions o;
    DataStats stats;
    std::vector<std::string> warnings;
    VosDataset train(Sav(dir), std::make_shared<RandomUniformSampler>(2, 3),
                     MoseTrainTransforms(32), o);
    SampleContext ctx(
        3, [&](const std::string& w) { warnings.push_back(w); }, &stats);
    auto dp = train.Get(0, ctx);
    ASSERT_TRUE(dp.ok()) << dp.status();
    EXPECT_GE(stats.bad_samples_skipped.load(), 1);
    EXPECT_THAT(warnings[0], HasSubstr(json));
    o.training = false;
    VosDataset eval(Sav(dir), std::make_shared<EvalSampler>(), nullptr, o);
    SampleContext ectx(3);
    auto err = eval.Get(0, ectx);
    ASSERT_FALSE(err.ok());
    EXPECT_THAT(err.status().message(), HasSubstr(json));
  }
  // Bad RLE counts in video 2.
  const std::string json2 = dir + "/sav/sav_train/sav_000002_manual.json";
  std::string text2 = *ReadFileToString(json2);
  const size_t counts = text2.find("\"counts\":\"") + 10;
  const size_t end = text2.find('"', counts);
  text2.erase(end - 2, 2);
  ASSERT_TRUE(WriteStringToFile(json2, text2).ok());
  VosDatasetOptions o;
  o.training = false;
  VosDataset eval(Sav(dir), std::make_shared<EvalSampler>(), nullptr, o);
  SampleContext ectx(3);
  auto err = eval.Get(1, ectx);
  ASSERT_FALSE(err.ok());
  EXPECT_THAT(err.status().message(), HasSubstr(json2));
}

TEST(BadDataTest, GivesUpAfterMaxRetries) {
  const std::string dir = MakeData("all_bad");
  for (int v = 0; v < kVideos; ++v) {
    for (int f = 0; f < kFrames; ++f) {
      ASSERT_TRUE(WriteStringToFile(FramePath(dir, v, f), "junk").ok());
    }
  }
  VosDatasetOptions o;
  o.max_retries = 5;
  VosDataset train(Davis(dir), std::make_shared<RandomUniformSampler>(2, 3),
                   MoseTrainTransforms(32), o);
  DataStats stats;
  SampleContext ctx(0, {}, &stats);
  auto dp = train.Get(0, ctx);
  ASSERT_FALSE(dp.ok());
  EXPECT_THAT(dp.status().message(), HasSubstr("gave up after 5 failed"));
  EXPECT_EQ(stats.bad_samples_skipped.load(), 5);
}

// A raw dataset whose every video fails to load, counting the attempts.
class AlwaysFailingRawDataset : public VosRawDataset {
 public:
  int64_t size() const override { return 4; }
  absl::StatusOr<RawVideo> GetVideo(int64_t idx) const override {
    ++calls_;
    return absl::DataLossError(absl::StrCat("video ", idx, " is broken"));
  }
  const std::vector<std::string>& video_names() const override {
    return names_;
  }
  int calls() const { return calls_.load(); }

 private:
  mutable std::atomic<int> calls_{0};
  std::vector<std::string> names_ = {"a", "b", "c", "d"};
};

// The reference's `for retry in range(MAX_RETRIES)` with MAX_RETRIES = 100:
// 100 samples in all (not the first one plus 100 replacements).
TEST(BadDataTest, DefaultTriesExactlyOneHundredSamples) {
  auto raw = std::make_shared<AlwaysFailingRawDataset>();
  VosDatasetOptions o;
  ASSERT_EQ(o.max_retries, 100);
  VosDataset train(raw, std::make_shared<RandomUniformSampler>(2, 3), nullptr,
                   o);
  DataStats stats;
  std::vector<std::string> warnings;
  SampleContext ctx(
      7, [&](const std::string& w) { warnings.push_back(w); }, &stats);
  auto dp = train.Get(1, ctx);
  ASSERT_FALSE(dp.ok());
  EXPECT_EQ(raw->calls(), 100);
  EXPECT_EQ(stats.bad_samples_skipped.load(), 100);
  ASSERT_EQ(warnings.size(), 100u);
  EXPECT_THAT(warnings.front(), HasSubstr("(attempt 1/100)"));
  EXPECT_THAT(warnings.back(), HasSubstr("(attempt 100/100)"));
  EXPECT_EQ(dp.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(
      dp.status().message(),
      HasSubstr("gave up after 100 failed samples starting at index 1"));
  EXPECT_THAT(dp.status().message(), HasSubstr("is broken"));
}

TEST(BadDataTest, NonPositiveMaxRetriesStillTriesOnce) {
  auto raw = std::make_shared<AlwaysFailingRawDataset>();
  VosDatasetOptions o;
  o.max_retries = 0;
  VosDataset train(raw, std::make_shared<RandomUniformSampler>(2, 3), nullptr,
                   o);
  SampleContext ctx(0);
  auto dp = train.Get(0, ctx);
  ASSERT_FALSE(dp.ok());
  EXPECT_EQ(raw->calls(), 1);
  EXPECT_THAT(dp.status().message(), HasSubstr("gave up after 1 failed"));
}

TEST(ConcatDatasetTest, IndexesAcrossDatasets) {
  const std::string dir = MakeData("concat");
  VosDatasetOptions o;
  o.multiplier = 2.0f;
  auto a = std::make_shared<VosDataset>(
      Davis(dir), std::make_shared<EvalSampler>(), nullptr, o);
  auto b =
      std::make_shared<VosDataset>(Davis(dir), std::make_shared<EvalSampler>(),
                                   nullptr, VosDatasetOptions{});
  ConcatDataset concat({a, b});
  EXPECT_EQ(concat.size(), 2 * kVideos);
  const std::vector<float> f = concat.repeat_factors();
  ASSERT_EQ(f.size(), 2u * kVideos);
  EXPECT_EQ(f[0], 2.0f);
  EXPECT_EQ(f[kVideos], 1.0f);
  SampleContext ctx(0);
  auto dp = concat.Get(kVideos + 2, ctx);
  ASSERT_TRUE(dp.ok());
  EXPECT_EQ(dp->video_id, 2);
  EXPECT_FALSE(concat.Get(2 * kVideos, ctx).ok());
}

}  // namespace
}  // namespace sam2::data
