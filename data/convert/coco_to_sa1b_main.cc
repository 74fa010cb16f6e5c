// coco_to_sa1b: a COCO instance-segmentation dataset in the SA-1B layout.
//
//   bazel run //tools:coco_to_sa1b -- --annotations=instances_train.json \
//       --images=/data/coco/train2017 --output_dir=/data/coco_sa1b
#include <gflags/gflags.h>

#include <cstdio>
#include <string>

#include "data/convert/coco_to_sa1b.h"

DEFINE_string(annotations, "", "COCO annotations JSON (instances_*.json)");
DEFINE_string(images, "", "folder of the images (their file_name)");
DEFINE_string(output_dir, "", "where sa_<id>.jpg / sa_<id>.json go");
DEFINE_int64(min_area, 0, "drop objects of fewer pixels (0: only empty ones)");

int main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "--annotations=FILE --images=DIR --output_dir=DIR [--min_area=N]\n"
      "Writes a COCO instance-segmentation dataset in the SA-1B layout the\n"
      "trainer reads (sa1b { img_folder gt_folder } = --output_dir):\n"
      "sa_<image id>.jpg and .json per image with objects, file_list.txt.\n"
      "Polygons, uncompressed and compressed RLE become compressed RLE\n"
      "strings as pycocotools computes them; areas and boxes come from the\n"
      "masks. Images must be JPEG files. Problems of single images or\n"
      "objects are listed and the exit code is 1; the rest is converted.");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (FLAGS_annotations.empty() || FLAGS_images.empty() ||
      FLAGS_output_dir.empty()) {
    std::fprintf(stderr,
                 "coco_to_sa1b: --annotations, --images and --output_dir are "
                 "required (see --help)\n");
    return 2;
  }
  sam2::data::CocoToSa1bOptions options;
  options.annotations_json = FLAGS_annotations;
  options.images_dir = FLAGS_images;
  options.output_dir = FLAGS_output_dir;
  options.min_area = FLAGS_min_area;
  auto report = sam2::data::ConvertCocoToSa1b(options);
  if (!report.ok()) {
    std::fprintf(stderr, "coco_to_sa1b: %s\n",
                 std::string(report.status().message()).c_str());
    return 1;
  }
  for (const std::string& e : report->errors) {
    std::fprintf(stderr, "coco_to_sa1b: %s\n", e.c_str());
  }
  std::printf(
      "coco_to_sa1b: %lld images and %lld objects written to %s; %lld images "
      "without objects skipped, %lld objects dropped (empty or below "
      "--min_area), %zu error(s)\n",
      static_cast<long long>(report->images),
      static_cast<long long>(report->objects), FLAGS_output_dir.c_str(),
      static_cast<long long>(report->images_without_objects),
      static_cast<long long>(report->objects_dropped), report->errors.size());
  return report->errors.empty() ? 0 : 1;
}
