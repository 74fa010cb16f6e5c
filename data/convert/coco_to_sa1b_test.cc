#include "data/convert/coco_to_sa1b.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/testing/temp_dir.h"
#include "data/codecs/file_io.h"
#include "data/codecs/jpeg.h"
#include "data/codecs/rle.h"
#include "data/datasets/vos_raw_dataset.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sam2::data {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

void WriteJpeg(const std::string& path, int height, int width) {
  Image image(height, width, 3);
  for (size_t i = 0; i < image.data.size(); ++i) image.data[i] = i * 7 % 251;
  ASSERT_TRUE(WriteJpegFile(path, image).ok());
}

TEST(CocoToSa1bTest, ConvertsPolygonsAndBothRlesAndReportsBadImages) {
  const std::string dir = testutil::FreshTempDir("coco");
  std::filesystem::create_directories(dir + "/images");
  WriteJpeg(dir + "/images/a.jpg", 10, 10);
  WriteJpeg(dir + "/images/b.jpg", 9, 11);
  std::ofstream(dir + "/images/c.png") << "not a jpeg";
  WriteJpeg(dir + "/images/d.jpg", 10, 10);
  const json coco = {
      {"images",
       {{{"id", 1}, {"file_name", "a.jpg"}, {"height", 10}, {"width", 10}},
        {{"id", 2}, {"file_name", "b.jpg"}, {"height", 9}, {"width", 11}},
        {{"id", 3}, {"file_name", "c.png"}, {"height", 10}, {"width", 10}},
        {{"id", 4}, {"file_name", "d.jpg"}, {"height", 10}, {"width", 10}}}},
      {"annotations",
       {// A square (pycocotools: ";7300000000000c0").
        {{"id", 11},
         {"image_id", 1},
         {"segmentation", {{1, 1, 8, 1, 8, 8, 1, 8}}}},
        // Outside the image: empty, dropped.
        {{"id", 12},
         {"image_id", 1},
         {"segmentation", {{20, 20, 30, 20, 30, 30}}}},
        // Uncompressed RLE (iscrowd): column-major runs 0s first.
        {{"id", 13},
         {"image_id", 1},
         {"iscrowd", 1},
         {"segmentation", {{"size", {10, 10}}, {"counts", {5, 3, 92}}}}},
        // Two polygons of one object, merged (a golden of
        // data/codecs/testdata/polygon_rle_goldens.txt).
        {{"id", 21},
         {"image_id", 2},
         {"segmentation", {{1, 1, 4, 1, 4, 4, 1, 4}, {6, 5, 10, 5, 10, 8}}}},
        {{"id", 31},
         {"image_id", 3},
         {"segmentation", {{1, 1, 8, 1, 8, 8}}}}}}};
  std::ofstream(dir + "/instances.json") << coco.dump();

  CocoToSa1bOptions options;
  options.annotations_json = dir + "/instances.json";
  options.images_dir = dir + "/images";
  options.output_dir = dir + "/sa1b";
  absl::StatusOr<CocoToSa1bReport> report = ConvertCocoToSa1b(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->images, 2);
  EXPECT_EQ(report->objects, 3);
  EXPECT_EQ(report->objects_dropped, 1);
  EXPECT_EQ(report->images_without_objects, 1);  // image 4
  ASSERT_EQ(report->errors.size(), 1u);
  EXPECT_THAT(report->errors[0], HasSubstr("image 3: "));
  EXPECT_THAT(report->errors[0], HasSubstr("c.png"));

  const json a = json::parse(*ReadFileToString(dir + "/sa1b/sa_1.json"));
  ASSERT_EQ(a["annotations"].size(), 2u);
  EXPECT_EQ(a["annotations"][0]["segmentation"]["counts"], ";7300000000000c0");
  EXPECT_EQ(a["annotations"][0]["area"], 49);
  EXPECT_EQ(a["annotations"][0]["bbox"], json({1, 1, 7, 7}));
  EXPECT_EQ(a["annotations"][1]["area"], 3);
  const json b = json::parse(*ReadFileToString(dir + "/sa1b/sa_2.json"));
  EXPECT_EQ(b["annotations"][0]["segmentation"]["counts"], ":36000o0NSO1O13");
  EXPECT_EQ(*ReadFileToString(dir + "/sa1b/file_list.txt"), "sa_1\nsa_2\n");
  EXPECT_EQ(*ReadFileToString(dir + "/sa1b/sa_1.jpg"),
            *ReadFileToString(dir + "/images/a.jpg"));

  // The trainer's SA-1B reader takes the output as it is.
  Sa1bRawDatasetOptions sa1b;
  sa1b.img_folder = sa1b.gt_folder = dir + "/sa1b";
  auto dataset = Sa1bRawDataset::Create(sa1b);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ((*dataset)->size(), 2);
  auto video = (*dataset)->GetVideo(0);
  ASSERT_TRUE(video.ok()) << video.status();
  auto segments = video->segment_loader->Load(0);
  ASSERT_TRUE(segments.ok()) << segments.status();
  EXPECT_EQ(segments->size(), 2u);
}

TEST(CocoToSa1bTest, NotCocoIsAnError) {
  const std::string dir = testutil::FreshTempDir("coco_bad");
  std::ofstream(dir + "/x.json") << "{\"images\": 3}";
  CocoToSa1bOptions options;
  options.annotations_json = dir + "/x.json";
  options.images_dir = dir;
  options.output_dir = dir + "/out";
  const absl::Status s = ConvertCocoToSa1b(options).status();
  EXPECT_THAT(s.message(), HasSubstr("x.json: not a COCO annotations file"));
}

}  // namespace
}  // namespace sam2::data
