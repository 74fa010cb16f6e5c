#include "data/validation/dataset_check.h"

#include <filesystem>
#include <fstream>

#include "base/testing/temp_dir.h"
#include "data/codecs/png.h"
#include "data/synthetic/synthetic_vos.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sam2::data {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// Four synthetic DAVIS videos of 6 frames; synth_0001 stays good.
std::string MakeData(const std::string& name) {
  const std::string dir = testutil::FreshTempDir(name);
  SyntheticVosOptions o;
  o.output_dir = dir;
  o.num_videos = 4;
  o.num_frames = 6;
  o.num_objects = 2;
  o.height = 48;
  o.width = 64;
  o.seed = 3;
  o.per_object_png = false;
  o.sa1b = false;
  o.sav = false;
  EXPECT_TRUE(WriteSyntheticVos(o).ok());
  return dir + "/davis";
}

std::unique_ptr<PngRawDataset> Open(const std::string& root) {
  PngRawDatasetOptions o;
  o.img_folder = root + "/JPEGImages";
  o.gt_folder = root + "/Annotations";
  auto dataset = PngRawDataset::Create(o);
  EXPECT_TRUE(dataset.ok()) << dataset.status();
  return std::move(*dataset);
}

void WriteLabels(const std::string& path, int height, int width, int value) {
  Image labels(height, width, 1);
  std::fill(labels.data.begin(), labels.data.end(), value);
  std::vector<std::array<uint8_t, 3>> palette(256, {0, 0, 0});
  ASSERT_TRUE(WritePalettePngFile(path, labels, palette).ok());
}

TEST(DatasetCheckTest, AGoodDatasetHasNoProblems) {
  const std::string root = MakeData("check_good");
  const DatasetCheckReport report = CheckDataset(*Open(root), {});
  EXPECT_EQ(report.videos, 4);
  EXPECT_EQ(report.frames, 24);
  EXPECT_GT(report.masks, 24);
  EXPECT_TRUE(report.problems.empty())
      << FormatProblem(report.problems.front());
}

TEST(DatasetCheckTest, EveryProblemIsReportedInOnePass) {
  const std::string root = MakeData("check_broken");
  // synth_0002: a truncated JPEG at frame 2, a mask of another size at 4.
  const std::string jpeg = root + "/JPEGImages/synth_0002/00002.jpg";
  fs::resize_file(jpeg, fs::file_size(jpeg) / 3);
  WriteLabels(root + "/Annotations/synth_0002/00004.png", 10, 10, 1);
  // synth_0003: every annotation empty (no object anywhere).
  for (int f = 0; f < 6; ++f) {
    WriteLabels(
        root + "/Annotations/synth_0003/0000" + std::to_string(f) + ".png", 48,
        64, 0);
  }
  // synth_0004: a corrupt PNG.
  std::ofstream(root + "/Annotations/synth_0004/00001.png") << "not a png";

  DatasetCheckOptions options;
  options.min_frames = 8;  // every video is too short for this sampler
  options.threads = 3;
  const DatasetCheckReport report = CheckDataset(*Open(root), options);
  std::vector<std::string> lines;
  for (const DatasetProblem& p : report.problems) {
    lines.push_back(FormatProblem(p));
  }
  const std::string all = ::testing::PrintToString(lines);
  EXPECT_EQ(report.problems_by_kind.at("too short"), 4) << all;
  EXPECT_EQ(report.problems_by_kind.at("unreadable image"), 1) << all;
  EXPECT_EQ(report.problems_by_kind.at("size mismatch"), 1) << all;
  EXPECT_EQ(report.problems_by_kind.at("no objects"), 1) << all;
  EXPECT_EQ(report.problems_by_kind.at("unreadable annotation"), 1) << all;
  EXPECT_THAT(all,
              HasSubstr("video 'synth_0002', frame 2: unreadable image: "));
  EXPECT_THAT(all, HasSubstr("synth_0002/00002.jpg"));
  EXPECT_THAT(all, HasSubstr("video 'synth_0002', frame 4: size mismatch: "));
  EXPECT_THAT(all, HasSubstr("video 'synth_0003': no objects"));
  EXPECT_THAT(all, HasSubstr("video 'synth_0004', frame 1: unreadable "
                             "annotation: "));
  EXPECT_THAT(all, HasSubstr("synth_0004/00001.png"));
  EXPECT_THAT(all,
              HasSubstr("6 frames, fewer than the sampler's num_frames 8"));
  // Video order, whatever the threads.
  EXPECT_EQ(report.problems.front().video, "synth_0001");
  EXPECT_EQ(report.problems.back().video, "synth_0004");
}

TEST(DatasetCheckTest, ShardsSplitTheVideos) {
  const std::string root = MakeData("check_shards");
  auto dataset = Open(root);
  int64_t videos = 0, frames = 0;
  for (int shard = 0; shard < 3; ++shard) {
    DatasetCheckOptions o;
    o.shard = shard;
    o.num_shards = 3;
    const DatasetCheckReport r = CheckDataset(*dataset, o);
    videos += r.videos;
    frames += r.frames;
  }
  EXPECT_EQ(videos, 4);
  EXPECT_EQ(frames, 24);
}

// Per-object PNG layout: an object folder whose masks are all empty.
TEST(DatasetCheckTest, ObjectEmptyOnEveryFrameIsNamed) {
  const std::string dir = testutil::FreshTempDir("check_empty_object");
  SyntheticVosOptions o;
  o.output_dir = dir;
  o.num_videos = 1;
  o.num_frames = 4;
  o.num_objects = 2;
  o.height = 48;
  o.width = 64;
  o.seed = 3;
  o.sa1b = false;
  o.sav = false;
  ASSERT_TRUE(WriteSyntheticVos(o).ok());
  const std::string objects = dir + "/davis/Annotations_per_object/synth_0001";
  std::vector<std::string> folders;
  for (const auto& e : fs::directory_iterator(objects)) {
    folders.push_back(e.path().string());
  }
  std::sort(folders.begin(), folders.end());
  ASSERT_EQ(folders.size(), 2u);
  for (const auto& e : fs::directory_iterator(folders[1])) {
    Image zeros(48, 64, 1);
    ASSERT_TRUE(WritePngFile(e.path().string(), zeros).ok());
  }
  PngRawDatasetOptions po;
  po.img_folder = dir + "/davis/JPEGImages";
  po.gt_folder = dir + "/davis/Annotations_per_object";
  po.is_palette = false;
  auto dataset = PngRawDataset::Create(po);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  const DatasetCheckReport report = CheckDataset(**dataset, {});
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_EQ(report.problems[0].kind, "empty object");
  // The loader numbers objects from 1 (folder 000 is object 1).
  EXPECT_EQ(report.problems[0].obj_id,
            std::stoi(fs::path(folders[1]).filename().string()) + 1);
}

}  // namespace
}  // namespace sam2::data
