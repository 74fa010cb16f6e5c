#include "data/synthetic/synthetic_vos.h"

#include <filesystem>

#include "base/testing/temp_dir.h"
#include "data/codecs/file_io.h"
#include "data/codecs/jpeg.h"
#include "data/codecs/png.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sam2::data {
namespace {

namespace fs = std::filesystem;

SyntheticVosOptions Small(const std::string& dir, uint64_t seed) {
  SyntheticVosOptions options;
  options.output_dir = dir;
  options.num_videos = 1;
  options.num_frames = 5;
  options.num_objects = 4;
  options.height = 64;
  options.width = 80;
  options.seed = seed;
  return options;
}

// Every regular file under `dir`, relative path -> bytes.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    files[fs::relative(entry.path(), dir).string()] =
        *ReadFileToString(entry.path().string());
  }
  return files;
}

TEST(SyntheticVosTest, SameSeedSameBytesOtherSeedOtherData) {
  const std::string dir_a = testutil::FreshTempDir("a");
  const std::string dir_b = testutil::FreshTempDir("b");
  const std::string dir_c = testutil::FreshTempDir("c");
  ASSERT_TRUE(WriteSyntheticVos(Small(dir_a, 3)).ok());
  ASSERT_TRUE(WriteSyntheticVos(Small(dir_b, 3)).ok());
  ASSERT_TRUE(WriteSyntheticVos(Small(dir_c, 4)).ok());
  const auto a = Snapshot(dir_a), b = Snapshot(dir_b), c = Snapshot(dir_c);
  EXPECT_EQ(a, b);
  ASSERT_EQ(a.size(), c.size());
  EXPECT_NE(a.at("davis/JPEGImages/synth_0001/00000.jpg"),
            c.at("davis/JPEGImages/synth_0001/00000.jpg"));
  // 5 frames x (jpg + png) + per-object PNGs + list; SA-V 5 jpg + json + list;
  // SA-1B 1 image: jpg + json + list.
  EXPECT_EQ(a.count("davis/file_list.txt"), 1);
  EXPECT_EQ(a.at("sav/file_list.txt"), "sav_000001\n");
  EXPECT_EQ(a.count("sa1b/sa_1.json"), 1);
  EXPECT_EQ(a.count("sav/sav_train/sav_000001_manual.json"), 1);
}

TEST(SyntheticVosTest, FramesHaveTheRequestedSizeAndObjectsMove) {
  SyntheticVosOptions options = Small(testutil::TempPath("unused"), 9);
  options.num_frames = 10;
  const SyntheticFrame first = RenderSyntheticFrame(options, 0, 0);
  const SyntheticFrame last = RenderSyntheticFrame(options, 0, 9);
  EXPECT_EQ(first.rgb.size(), (ImageSize{64, 80}));
  EXPECT_EQ(first.rgb.channels, 3);
  EXPECT_EQ(first.labels.channels, 1);
  EXPECT_NE(first.labels.data, last.labels.data);
  auto area = [](const Image& labels, int id) {
    int64_t n = 0;
    for (uint8_t v : labels.data) n += v == id;
    return n;
  };
  for (int id = 1; id <= 3; ++id) EXPECT_GT(area(first.labels, id), 0) << id;
  EXPECT_EQ(area(last.labels, 3), 0);  // object 3 has left the frame

  // Object 1 (drawn on top) passes over object 2 mid-video: their masks
  // then share a long border (the part of object 2 it hides).
  int max_border = 0;
  for (int f = 0; f < 10; ++f) {
    const Image labels = RenderSyntheticFrame(options, 0, f).labels;
    int border = 0;
    for (int y = 0; y < labels.height; ++y)
      for (int x = 0; x + 1 < labels.width; ++x) {
        const int a = labels.at(y, x), b = labels.at(y, x + 1);
        border += (a == 1 && b == 2) || (a == 2 && b == 1);
      }
    max_border = std::max(max_border, border);
  }
  EXPECT_GE(max_border, 4);
  EXPECT_EQ(area(first.labels, 1) > 0 && area(last.labels, 1) > 0, true);
}

TEST(SyntheticVosTest, LargeFramesAreWrittenAtFullSize) {
  const std::string dir = testutil::FreshTempDir("large");
  SyntheticVosOptions options = Small(dir, 1);
  options.height = 720;
  options.width = 1280;
  options.num_frames = 2;
  options.sa1b = options.per_object_png = false;
  ASSERT_TRUE(WriteSyntheticVos(options).ok());
  absl::StatusOr<ImageSize> size =
      ReadJpegFileSize(dir + "/davis/JPEGImages/synth_0001/00001.jpg");
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, (ImageSize{720, 1280}));
  PngInfo info;
  ASSERT_TRUE(
      ReadPngFile(dir + "/davis/Annotations/synth_0001/00001.png", &info).ok());
  EXPECT_EQ(info.color_type, PngColorType::kPalette);
  EXPECT_FALSE(fs::exists(dir + "/sa1b"));
}

TEST(SyntheticVosTest, RejectsBadOptions) {
  const std::string dir = testutil::FreshTempDir("bad");
  SyntheticVosOptions options = Small(dir, 0);
  options.num_objects = 256;
  EXPECT_FALSE(WriteSyntheticVos(options).ok());
  options = Small("", 0);
  EXPECT_FALSE(WriteSyntheticVos(options).ok());
  options = Small(dir, 0);
  options.height = 8;
  EXPECT_FALSE(WriteSyntheticVos(options).ok());
  options = Small(dir, 0);
  options.num_frames = 0;
  EXPECT_FALSE(WriteSyntheticVos(options).ok());
}

}  // namespace
}  // namespace sam2::data
