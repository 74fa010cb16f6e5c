#include "data/datasets/vos_raw_dataset.h"

#include <filesystem>

#include "base/testing/temp_dir.h"
#include "data/codecs/file_io.h"
#include "data/codecs/jpeg.h"
#include "data/codecs/png.h"
#include "data/synthetic/synthetic_vos.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sam2::data {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int kVideos = 2, kFrames = 12, kObjects = 3, kHeight = 72,
              kWidth = 120;

SyntheticVosOptions Options(const std::string& dir) {
  SyntheticVosOptions options;
  options.output_dir = dir;
  options.num_videos = kVideos;
  options.num_frames = kFrames;
  options.num_objects = kObjects;
  options.height = kHeight;
  options.width = kWidth;
  options.seed = 5;
  options.num_images = 3;
  return options;
}

// A fresh synthetic dataset under TEST_TMPDIR/<name>.
std::string MakeData(const std::string& name) {
  const std::string dir = testutil::FreshTempDir(name);
  const absl::Status status = WriteSyntheticVos(Options(dir));
  EXPECT_TRUE(status.ok()) << status;
  return dir;
}

Mask LabelMask(const Image& labels, int label) {
  Mask mask(labels.height, labels.width);
  for (size_t i = 0; i < mask.data.size(); ++i)
    mask.data[i] = labels.data[i] == label;
  return mask;
}

PngRawDatasetOptions DavisOptions(const std::string& dir) {
  PngRawDatasetOptions options;
  options.img_folder = dir + "/davis/JPEGImages";
  options.gt_folder = dir + "/davis/Annotations";
  return options;
}

JsonRawDatasetOptions SavOptions(const std::string& dir) {
  JsonRawDatasetOptions options;
  options.img_folder = dir + "/sav/JPEGImages_24fps";
  options.gt_folder = dir + "/sav/sav_train";
  options.ann_every = 4;
  return options;
}

Sa1bRawDatasetOptions Sa1bOptions(const std::string& dir) {
  Sa1bRawDatasetOptions options;
  options.img_folder = dir + "/sa1b";
  options.gt_folder = dir + "/sa1b";
  return options;
}

class RawDatasetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = new std::string(MakeData("shared")); }
  static void TearDownTestSuite() { delete dir_; }
  static const std::string& dir() { return *dir_; }
  static std::string* dir_;
};
std::string* RawDatasetTest::dir_ = nullptr;

TEST_F(RawDatasetTest, PalettisedPngVideosReadBackAsRendered) {
  absl::StatusOr<std::unique_ptr<PngRawDataset>> dataset =
      PngRawDataset::Create(DavisOptions(dir()));
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  ASSERT_EQ((*dataset)->size(), kVideos);
  EXPECT_THAT((*dataset)->video_names(),
              ElementsAre("synth_0001", "synth_0002"));

  for (int v = 0; v < kVideos; ++v) {
    absl::StatusOr<RawVideo> video = (*dataset)->GetVideo(v);
    ASSERT_TRUE(video.ok()) << video.status();
    EXPECT_EQ(video->video.video_id, v);
    ASSERT_EQ(video->video.frames.size(), kFrames);
    for (int f = 0; f < kFrames; ++f) {
      const VosFrame& frame = video->video.frames[f];
      EXPECT_EQ(frame.frame_idx, f);
      absl::StatusOr<FrameSegments> segments = video->segment_loader->Load(f);
      ASSERT_TRUE(segments.ok()) << segments.status();
      EXPECT_TRUE(CheckSegmentsMatchFrame(*segments, frame).ok());
      const SyntheticFrame rendered =
          RenderSyntheticFrame(Options(dir()), v, f);
      for (int id = 1; id <= kObjects; ++id) {
        const Mask want = LabelMask(rendered.labels, id);
        if (want.Area() == 0) {
          EXPECT_FALSE(segments->Contains(id)) << "frame " << f << " id " << id;
          continue;
        }
        absl::StatusOr<const Mask*> mask = segments->Get(id);
        ASSERT_TRUE(mask.ok()) << mask.status();
        EXPECT_EQ((*mask)->size(), (ImageSize{kHeight, kWidth}));
        EXPECT_EQ((*mask)->data, want.data);
      }
    }
    // Every object is there at the start; object 3 has left by the end.
    EXPECT_THAT(video->segment_loader->Load(0)->ObjectIds(),
                ElementsAre(1, 2, 3));
    EXPECT_FALSE(video->segment_loader->Load(kFrames - 1)->Contains(3));
  }
  EXPECT_FALSE((*dataset)->GetVideo(kVideos).ok());
}

TEST_F(RawDatasetTest, PngOptionsSubsetTruncateAndRepeat) {
  PngRawDatasetOptions options = DavisOptions(dir());
  options.sample_rate = 3;
  absl::StatusOr<std::unique_ptr<PngRawDataset>> sampled =
      PngRawDataset::Create(options);
  ASSERT_TRUE(sampled.ok());
  absl::StatusOr<RawVideo> video = (*sampled)->GetVideo(0);
  ASSERT_TRUE(video.ok());
  std::vector<int> ids;
  for (const VosFrame& frame : video->video.frames)
    ids.push_back(frame.frame_idx);
  EXPECT_THAT(ids, ElementsAre(0, 3, 6, 9));

  options.sample_rate = 1;
  options.truncate_video = 5;
  video = (*PngRawDataset::Create(options))->GetVideo(1);
  ASSERT_TRUE(video.ok());
  EXPECT_EQ(video->video.frames.size(), 5);
  EXPECT_EQ(video->video.frames.back().frame_idx, 4);

  options.truncate_video = -1;
  options.frames_sampling_mult = true;
  EXPECT_EQ((*PngRawDataset::Create(options))->size(), kVideos * kFrames);

  options.frames_sampling_mult = false;
  options.file_list_txt = dir() + "/davis/file_list.txt";
  const std::string excluded = testutil::TempPath("excluded.txt");
  ASSERT_TRUE(WriteStringToFile(excluded, "  synth_0001.mp4 \n\n").ok());
  options.excluded_videos_list_txts = {excluded};
  absl::StatusOr<std::unique_ptr<PngRawDataset>> subset =
      PngRawDataset::Create(options);
  ASSERT_TRUE(subset.ok()) << subset.status();
  EXPECT_THAT((*subset)->video_names(), ElementsAre("synth_0002"));
}

TEST_F(RawDatasetTest, PerObjectPngsMatchThePalettisedMasks) {
  PngRawDatasetOptions options = DavisOptions(dir());
  PngRawDatasetOptions per_object = options;
  per_object.gt_folder = dir() + "/davis/Annotations_per_object";
  per_object.is_palette = false;
  absl::StatusOr<RawVideo> palette =
      (*PngRawDataset::Create(options))->GetVideo(0);
  absl::StatusOr<RawVideo> multiple =
      (*PngRawDataset::Create(per_object))->GetVideo(0);
  ASSERT_TRUE(palette.ok());
  ASSERT_TRUE(multiple.ok()) << multiple.status();
  for (int f : {0, 5, kFrames - 1}) {
    absl::StatusOr<FrameSegments> a = palette->segment_loader->Load(f);
    absl::StatusOr<FrameSegments> b = multiple->segment_loader->Load(f);
    ASSERT_TRUE(a.ok() && b.ok());
    // Per-object layout lists every object (folder name + 1), absent ones
    // as empty masks.
    EXPECT_THAT(b->ObjectIds(), ElementsAre(1, 2, 3));
    for (int id = 1; id <= kObjects; ++id) {
      const Mask* mb = *b->Get(id);
      if (a->Contains(id)) {
        EXPECT_EQ(mb->data, (*a->Get(id))->data);
      } else {
        EXPECT_EQ(mb->Area(), 0);
      }
    }
  }
  absl::StatusOr<FrameSegments> only = multiple->segment_loader->Load(0, {2});
  ASSERT_TRUE(only.ok());
  EXPECT_THAT(only->ObjectIds(), ElementsAre(2));

  per_object.single_object_mode = true;
  absl::StatusOr<std::unique_ptr<PngRawDataset>> single =
      PngRawDataset::Create(per_object);
  ASSERT_TRUE(single.ok()) << single.status();
  EXPECT_EQ((*single)->size(), kVideos * kObjects);
  EXPECT_EQ((*single)->video_names()[1], "synth_0001/1");
  absl::StatusOr<RawVideo> one = (*single)->GetVideo(1);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->video.frames.size(), kFrames);
  absl::StatusOr<FrameSegments> object = one->segment_loader->Load(0);
  ASSERT_TRUE(object.ok());
  EXPECT_THAT(object->ObjectIds(), ElementsAre(2));
  EXPECT_EQ((*object->Get(2))->data,
            (*palette->segment_loader->Load(0)->Get(2))->data);
}

TEST_F(RawDatasetTest, SavJsonVideosKeepAnnotatedFramesAndDecodeLazily) {
  absl::StatusOr<std::unique_ptr<JsonRawDataset>> dataset =
      JsonRawDataset::Create(SavOptions(dir()));
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  ASSERT_EQ((*dataset)->size(), kVideos);
  absl::StatusOr<RawVideo> video = (*dataset)->GetVideo(1);
  ASSERT_TRUE(video.ok()) << video.status();
  EXPECT_EQ(video->video.video_name, "sav_000002");
  std::vector<int> ids;
  for (const VosFrame& frame : video->video.frames)
    ids.push_back(frame.frame_idx);
  EXPECT_THAT(ids, ElementsAre(0, 4, 8));  // annotated every 4th frame
  EXPECT_EQ(video->video.frames[1].image_path,
            dir() + "/sav/JPEGImages_24fps/sav_000002/00004.jpg");

  for (const VosFrame& frame : video->video.frames) {
    absl::StatusOr<FrameSegments> segments =
        video->segment_loader->Load(frame.frame_idx);
    ASSERT_TRUE(segments.ok()) << segments.status();
    EXPECT_THAT(segments->ObjectIds(), ElementsAre(0, 1, 2));
    EXPECT_TRUE(CheckSegmentsMatchFrame(*segments, frame).ok());
    const SyntheticFrame rendered =
        RenderSyntheticFrame(Options(dir()), 1, frame.frame_idx);
    for (int obj = 0; obj < kObjects; ++obj) {
      const Mask want = LabelMask(rendered.labels, obj + 1);
      EXPECT_EQ(*segments->Area(obj), want.Area());  // from the RLE, no decode
      EXPECT_EQ((*segments->Get(obj))->data, want.data);
    }
  }
  // Unannotated frames are refused, sampled objects filter.
  EXPECT_FALSE(video->segment_loader->Load(2).ok());
  absl::StatusOr<FrameSegments> sampled =
      video->segment_loader->Load(4, {2, 7});
  ASSERT_TRUE(sampled.ok());
  EXPECT_THAT(sampled->ObjectIds(), ElementsAre(2));

  auto* json_loader =
      dynamic_cast<JsonSegmentLoader*>(video->segment_loader.get());
  ASSERT_NE(json_loader, nullptr);
  EXPECT_EQ(json_loader->num_annotated_frames(), 3);
  const auto valid = json_loader->GetValidObjFramesIds();
  EXPECT_THAT(valid.at(0), ElementsAre(0, 4, 8));

  JsonRawDatasetOptions all_frames = SavOptions(dir());
  all_frames.rm_unannotated = false;
  all_frames.sample_rate = 2;
  absl::StatusOr<RawVideo> every =
      (*JsonRawDataset::Create(all_frames))->GetVideo(0);
  ASSERT_TRUE(every.ok());
  EXPECT_EQ(every->video.frames.size(), kFrames / 2);
}

TEST_F(RawDatasetTest, Sa1bImagesGiveEveryVisibleMaskAndTheWholeMask) {
  absl::StatusOr<std::unique_ptr<Sa1bRawDataset>> dataset =
      Sa1bRawDataset::Create(Sa1bOptions(dir()));
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  ASSERT_EQ((*dataset)->size(), 3);
  absl::StatusOr<RawVideo> video = (*dataset)->GetVideo(0);
  ASSERT_TRUE(video.ok()) << video.status();
  EXPECT_EQ(video->video.video_name, "1");
  EXPECT_EQ(video->video.video_id, 1);
  ASSERT_EQ(video->video.frames.size(), 1);
  absl::StatusOr<FrameSegments> segments = video->segment_loader->Load(0);
  ASSERT_TRUE(segments.ok());
  EXPECT_TRUE(segments->every_object_visible());
  ASSERT_EQ(segments->size(), kObjects + 1);  // all visible at tau 0, + whole
  EXPECT_TRUE(CheckSegmentsMatchFrame(*segments, video->video.frames[0]).ok());
  int64_t parts = 0;
  for (int id = 0; id < kObjects; ++id) parts += *segments->Area(id);
  const int64_t whole = *segments->Area(kObjects);
  EXPECT_EQ(whole, *segments->Area(0) + *segments->Area(1));
  EXPECT_GT(parts, 0);
  EXPECT_EQ((*segments->Get(kObjects))->Area(), whole);

  // Area filtering drops masks covering >= the given fraction of the image.
  Sa1bRawDatasetOptions options = Sa1bOptions(dir());
  options.mask_area_frac_thresh =
      static_cast<double>(whole) / (kHeight * kWidth);
  absl::StatusOr<RawVideo> filtered =
      (*Sa1bRawDataset::Create(options))->GetVideo(0);
  ASSERT_TRUE(filtered.ok()) << filtered.status();
  EXPECT_EQ(filtered->segment_loader->Load(0)->size(), kObjects);

  options.num_frames = 3;
  EXPECT_EQ(
      (*Sa1bRawDataset::Create(options))->GetVideo(2)->video.frames.size(), 3);
}

TEST(Sa1bLoaderTest, UncertainIouAndZeroAreaFilteringAsTheReference) {
  const std::string dir = testutil::FreshTempDir("sa1b_filter");
  ASSERT_TRUE(WriteStringToFile(dir + "/sa_7.json", R"({"annotations": [
    {"area": 2, "segmentation": {"size": [2, 2], "counts": [1, 2, 1]}, "uncertain_iou": 0.5},
    {"area": 2, "segmentation": {"size": [2, 2], "counts": [0, 2, 2]}, "uncertain_iou": 0.95},
    {"area": 0, "segmentation": {"size": [2, 2], "counts": [4]}},
    {"area": 1, "segmentation": {"size": [2, 2], "counts": "31"}, "stability_score": 0.1}
  ]})")
                  .ok());
  Sa1bSegmentLoader::Options options;
  options.uncertain_iou = 0.9;
  absl::StatusOr<std::unique_ptr<Sa1bSegmentLoader>> loader =
      Sa1bSegmentLoader::Create(dir + "/sa_7.json", dir + "/sa_7.jpg", options);
  ASSERT_TRUE(loader.ok()) << loader.status();
  // Dropped: uncertain_iou 0.5 < 0.9 and area 0. stability_score is not
  // read by the reference, so the last one stays.
  EXPECT_EQ((*loader)->num_segments(), 2);
  absl::StatusOr<FrameSegments> segments = (*loader)->Load(0);
  ASSERT_TRUE(segments.ok());
  EXPECT_EQ((*segments->Get(0))->data, (std::vector<uint8_t>{1, 0, 1, 0}));
}

// ---------------------------------------------------------------------------
// Bad data: every failure is a status that names the file.

// Object ids are the stored values for every kind of label PNG (the 8-bit
// fast path for palette / 8-bit gray, the 16-bit one otherwise), with the
// obj_ids filter, and Take moves a mask out once.
TEST(PalettisedLoaderTest, IdsAreStoredValuesForEveryLabelPngKind) {
  const std::string root = testutil::FreshTempDir("label_kinds");
  // Row 0: ids 0, 3, 3, 200; row 1: 0, 0, 7, 3.
  const std::vector<int> ids = {0, 3, 3, 200, 0, 0, 7, 3};
  auto expect_masks = [&](const std::string& dir, int big_id) {
    absl::StatusOr<std::unique_ptr<PalettisedPngSegmentLoader>> loader =
        PalettisedPngSegmentLoader::Create(dir);
    ASSERT_TRUE(loader.ok()) << loader.status();
    absl::StatusOr<FrameSegments> all = (*loader)->Load(0);
    ASSERT_TRUE(all.ok()) << all.status();
    EXPECT_THAT(all->ObjectIds(), ElementsAre(3, 7, big_id)) << dir;
    absl::StatusOr<FrameSegments> some = (*loader)->Load(0, {big_id, 3, 9});
    ASSERT_TRUE(some.ok()) << some.status();
    EXPECT_THAT(some->ObjectIds(), ElementsAre(3, big_id)) << dir;
    absl::StatusOr<Mask> three = some->Take(3);
    ASSERT_TRUE(three.ok()) << three.status();
    EXPECT_THAT(three->data, ElementsAre(0, 1, 1, 0, 0, 0, 0, 1)) << dir;
    EXPECT_TRUE(some->Contains(3));
    EXPECT_FALSE(some->Take(3).ok());
    EXPECT_FALSE(some->Get(3).ok());
    EXPECT_FALSE(some->Take(7).ok());  // filtered out
    absl::StatusOr<const Mask*> big = some->Get(big_id);
    ASSERT_TRUE(big.ok()) << big.status();
    EXPECT_THAT((*big)->data, ElementsAre(0, 0, 0, 1, 0, 0, 0, 0)) << dir;
    EXPECT_TRUE(some->CheckSize({2, 4}, "frame").ok());
  };

  Image indices(2, 4, 1);
  for (size_t i = 0; i < ids.size(); ++i) indices.data[i] = ids[i];
  fs::create_directories(root + "/palette");
  ASSERT_TRUE(WritePalettePngFile(root + "/palette/00000.png", indices,
                                  PngPalette(256, {1, 2, 3}))
                  .ok());
  expect_masks(root + "/palette", 200);

  fs::create_directories(root + "/gray8");
  ASSERT_TRUE(WritePngFile(root + "/gray8/00000.png", indices).ok());
  expect_masks(root + "/gray8", 200);

  // Gray + alpha: the first channel holds the ids.
  Image gray_alpha(2, 4, 2);
  for (size_t i = 0; i < ids.size(); ++i) {
    gray_alpha.data[2 * i] = ids[i];
    gray_alpha.data[2 * i + 1] = 255 - ids[i];
  }
  fs::create_directories(root + "/gray_alpha");
  ASSERT_TRUE(WritePngFile(root + "/gray_alpha/00000.png", gray_alpha).ok());
  expect_masks(root + "/gray_alpha", 200);

  // 16-bit gray: ids above 255 survive (not rescaled to 8 bits).
  Image16 wide(2, 4, 1);
  for (size_t i = 0; i < ids.size(); ++i) {
    wide.data[i] = ids[i] == 200 ? 40000 : ids[i];
  }
  fs::create_directories(root + "/gray16");
  ASSERT_TRUE(WritePng16File(root + "/gray16/00000.png", wide).ok());
  expect_masks(root + "/gray16", 40000);
}

TEST(BadDataTest, CorruptOrTruncatedFramesAndMasks) {
  const std::string dir = MakeData("bad_images");
  const std::string jpg = dir + "/davis/JPEGImages/synth_0001/00003.jpg";
  std::string bytes = *ReadFileToString(jpg);
  ASSERT_TRUE(WriteStringToFile(jpg, bytes.substr(0, bytes.size() / 3)).ok());
  absl::StatusOr<Image> image = ReadJpegFile(jpg);
  ASSERT_FALSE(image.ok());
  EXPECT_THAT(image.status().message(), HasSubstr(jpg));

  const std::string header_jpg = dir + "/davis/JPEGImages/synth_0001/00004.jpg";
  ASSERT_TRUE(WriteStringToFile(header_jpg, "garbage").ok());
  absl::StatusOr<RawVideo> video =
      (*PngRawDataset::Create(DavisOptions(dir)))->GetVideo(0);
  ASSERT_TRUE(video.ok());
  absl::Status check = CheckSegmentsMatchFrame(*video->segment_loader->Load(4),
                                               video->video.frames[4]);
  EXPECT_THAT(check.message(), HasSubstr(header_jpg));

  const std::string png = dir + "/davis/Annotations/synth_0001/00002.png";
  bytes = *ReadFileToString(png);
  ASSERT_TRUE(WriteStringToFile(png, bytes.substr(0, bytes.size() - 30)).ok());
  absl::StatusOr<FrameSegments> segments = video->segment_loader->Load(2);
  ASSERT_FALSE(segments.ok());
  EXPECT_THAT(segments.status().message(), HasSubstr(png));

  const std::string object_png =
      dir + "/davis/Annotations_per_object/synth_0001/0/00001.png";
  ASSERT_TRUE(WriteStringToFile(object_png, "\x89PNG\r\n\x1a\nbroken").ok());
  PngRawDatasetOptions per_object = DavisOptions(dir);
  per_object.gt_folder = dir + "/davis/Annotations_per_object";
  per_object.is_palette = false;
  absl::StatusOr<RawVideo> multiple =
      (*PngRawDataset::Create(per_object))->GetVideo(0);
  ASSERT_TRUE(multiple.ok()) << multiple.status();
  EXPECT_THAT(multiple->segment_loader->Load(1).status().message(),
              HasSubstr(object_png));
}

TEST(BadDataTest, MissingFilesAndFolders) {
  const std::string dir = MakeData("missing");
  const std::string png = dir + "/davis/Annotations/synth_0002/00006.png";
  fs::remove(png);
  absl::StatusOr<RawVideo> video =
      (*PngRawDataset::Create(DavisOptions(dir)))->GetVideo(1);
  ASSERT_TRUE(video.ok());
  absl::StatusOr<FrameSegments> segments = video->segment_loader->Load(6);
  ASSERT_FALSE(segments.ok());
  EXPECT_TRUE(absl::IsNotFound(segments.status()));
  EXPECT_THAT(segments.status().message(), HasSubstr("synth_0002"));
  EXPECT_THAT(segments.status().message(), HasSubstr("frame 6"));

  fs::remove_all(dir + "/davis/Annotations/synth_0001");
  absl::StatusOr<RawVideo> no_masks =
      (*PngRawDataset::Create(DavisOptions(dir)))->GetVideo(0);
  ASSERT_FALSE(no_masks.ok());
  EXPECT_THAT(no_masks.status().message(), HasSubstr("Annotations/synth_0001"));

  fs::remove(dir + "/sav/sav_train/sav_000001_manual.json");
  absl::StatusOr<RawVideo> no_json =
      (*JsonRawDataset::Create(SavOptions(dir)))->GetVideo(0);
  ASSERT_FALSE(no_json.ok());
  EXPECT_THAT(no_json.status().message(), HasSubstr("sav_000001_manual.json"));

  fs::remove(dir + "/sa1b/sa_2.json");
  absl::StatusOr<RawVideo> no_sa1b =
      (*Sa1bRawDataset::Create(Sa1bOptions(dir)))->GetVideo(1);
  ASSERT_FALSE(no_sa1b.ok());
  EXPECT_THAT(no_sa1b.status().message(), HasSubstr("sa_2.json"));

  PngRawDatasetOptions missing_list = DavisOptions(dir);
  missing_list.file_list_txt = dir + "/nope.txt";
  EXPECT_THAT(PngRawDataset::Create(missing_list).status().message(),
              HasSubstr("nope.txt"));
  PngRawDatasetOptions missing_root = DavisOptions(dir);
  missing_root.img_folder = dir + "/no_such_dir";
  EXPECT_THAT(PngRawDataset::Create(missing_root).status().message(),
              HasSubstr("no_such_dir"));
}

TEST(BadDataTest, MaskAndFrameSizesDiffer) {
  const std::string dir = MakeData("mismatch");
  const std::string png = dir + "/davis/Annotations/synth_0001/00000.png";
  Image small(kHeight / 2, kWidth, 1);
  small.data.assign(small.data.size(), 1);
  ASSERT_TRUE(WritePalettePngFile(png, small, DavisPalette()).ok());
  absl::StatusOr<RawVideo> video =
      (*PngRawDataset::Create(DavisOptions(dir)))->GetVideo(0);
  ASSERT_TRUE(video.ok());
  absl::StatusOr<FrameSegments> segments = video->segment_loader->Load(0);
  ASSERT_TRUE(segments.ok());
  const absl::Status check =
      CheckSegmentsMatchFrame(*segments, video->video.frames[0]);
  ASSERT_FALSE(check.ok());
  EXPECT_THAT(check.message(), HasSubstr(png));
  EXPECT_THAT(check.message(), HasSubstr(video->video.frames[0].image_path));

  // Per-object PNGs of one video must agree with each other.
  const std::string object_png =
      dir + "/davis/Annotations_per_object/synth_0001/1/00003.png";
  ASSERT_TRUE(WritePngFile(object_png, Image(10, 10, 1)).ok());
  PngRawDatasetOptions per_object = DavisOptions(dir);
  per_object.gt_folder = dir + "/davis/Annotations_per_object";
  per_object.is_palette = false;
  absl::StatusOr<RawVideo> multiple =
      (*PngRawDataset::Create(per_object))->GetVideo(0);
  ASSERT_TRUE(multiple.ok());
  EXPECT_THAT(multiple->segment_loader->Load(3).status().message(),
              HasSubstr(object_png));
}

TEST(BadDataTest, MalformedJsonAndBadRle) {
  const std::string dir = MakeData("bad_json");
  const std::string json = dir + "/sav/sav_train/sav_000001_manual.json";
  std::string text = *ReadFileToString(json);
  ASSERT_TRUE(WriteStringToFile(json, text.substr(0, text.size() / 2)).ok());
  absl::StatusOr<RawVideo> video =
      (*JsonRawDataset::Create(SavOptions(dir)))->GetVideo(0);
  ASSERT_FALSE(video.ok());
  EXPECT_THAT(video.status().message(), HasSubstr(json));
  EXPECT_THAT(video.status().message(), HasSubstr("malformed JSON"));

  // RLE counts that stop short of H*W.
  const std::string json2 = dir + "/sav/sav_train/sav_000002_manual.json";
  text = *ReadFileToString(json2);
  const size_t counts = text.find("\"counts\":\"") + 10;
  ASSERT_NE(counts, std::string::npos);
  const size_t end = text.find('"', counts);
  text.erase(end - 2, 2);  // drop the last count(s)
  ASSERT_TRUE(WriteStringToFile(json2, text).ok());
  absl::StatusOr<RawVideo> bad_rle =
      (*JsonRawDataset::Create(SavOptions(dir)))->GetVideo(1);
  ASSERT_FALSE(bad_rle.ok());
  EXPECT_THAT(bad_rle.status().message(), HasSubstr(json2));
  EXPECT_THAT(bad_rle.status().message(), HasSubstr("masklet[0][0]"));

  const std::string sa1b = dir + "/sa1b/sa_1.json";
  ASSERT_TRUE(
      WriteStringToFile(sa1b, R"({"annotations": [{"area": 3}]})").ok());
  absl::StatusOr<RawVideo> bad_sa1b =
      (*Sa1bRawDataset::Create(Sa1bOptions(dir)))->GetVideo(0);
  ASSERT_FALSE(bad_sa1b.ok());
  EXPECT_THAT(bad_sa1b.status().message(),
              HasSubstr("sa_1.json: annotations[0]"));
  ASSERT_TRUE(WriteStringToFile(sa1b, "[1, 2").ok());
  EXPECT_THAT((*Sa1bRawDataset::Create(Sa1bOptions(dir)))
                  ->GetVideo(0)
                  .status()
                  .message(),
              HasSubstr("malformed JSON"));
}

}  // namespace
}  // namespace sam2::data
