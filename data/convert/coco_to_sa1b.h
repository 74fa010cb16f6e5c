// A COCO instance-segmentation dataset (annotations JSON + image folder) in
// the SA-1B layout the trainer reads (Sa1bRawDataset): <out>/sa_<id>.jpg and
// <out>/sa_<id>.json per image, plus <out>/file_list.txt. Polygons (several
// per object are merged), uncompressed ("iscrowd") and compressed RLE
// segmentations all become compressed RLE strings, bit-compatible with
// pycocotools' annToRLE; areas and boxes are recomputed from the masks.
#ifndef SAM2_DATA_CONVERT_COCO_TO_SA1B_H_
#define SAM2_DATA_CONVERT_COCO_TO_SA1B_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sam2::data {

struct CocoToSa1bOptions {
  std::string annotations_json;  // COCO instances_*.json
  std::string images_dir;        // where the images' file_name are
  std::string output_dir;
  // Objects smaller than this many pixels are dropped (0: only empty ones).
  int64_t min_area = 0;
};

struct CocoToSa1bReport {
  int64_t images = 0;                  // written
  int64_t images_without_objects = 0;  // skipped: nothing to train on
  int64_t objects = 0;                 // written
  int64_t objects_dropped = 0;         // empty or below min_area
  std::vector<std::string> errors;     // per image or object, naming it
};

// Errors: the annotations file cannot be read or is not COCO. Problems of
// single images or objects go to the report's errors; the rest converts.
// Each image's pair is written to temporary names and renamed, so an
// interrupted conversion leaves no half-written pair.
absl::StatusOr<CocoToSa1bReport> ConvertCocoToSa1b(
    const CocoToSa1bOptions& options);

}  // namespace sam2::data

#endif  // SAM2_DATA_CONVERT_COCO_TO_SA1B_H_
