// One SA-1B shard (a sa_*.tar as it is distributed, read as a stream with
// libarchive, or an unpacked folder) checked, filtered and written in the
// flat layout Sa1bRawDataset reads (<out>/sa_<n>.jpg + sa_<n>.json).
//
// Every image/JSON pair is checked: the JPEG decodes, the JSON parses and
// its image size is the JPEG's, every annotation's RLE covers height x width,
// its area is the mask's and its box the mask's (within a pixel). The
// filters SA1BRawDataset applies are applied here (so training reads less):
// area 0, an "uncertain_iou" below `uncertain_iou`, an area fraction at or
// above `mask_area_frac_thresh`. A pair whose image or JSON is bad is left
// out; a bad annotation is left out of its pair. Pairs nothing was dropped
// from are written byte for byte as they came.
#ifndef SAM2_DATA_CONVERT_SA1B_SHARD_H_
#define SAM2_DATA_CONVERT_SA1B_SHARD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sam2::data {

struct Sa1bFilterOptions {
  double mask_area_frac_thresh = 1.1;  // > 1: no area filter
  double uncertain_iou = -1;           // < 0: no uncertainty filter
  // > 0: images whose longer side exceeds this are downsized to it (Pillow's
  // bilinear resize, re-encoded as JPEG quality 95) and their masks with them
  // (the trainer's own mask resize: bilinear with antialiasing, rounded to
  // 0/1; RLE, area, box, point_coords and crop_box updated; masks that vanish
  // are dropped). 0: images stay as they are.
  int max_side = 0;
};

struct Sa1bShardReport {
  std::string shard;   // file or folder name
  int64_t images = 0;  // pairs written
  int64_t images_dropped = 0;
  int64_t annotations_kept = 0;
  int64_t annotations_dropped = 0;  // filtered or bad
  int64_t bytes = 0;                // of the pairs read
  uint32_t content_crc32 = 0;       // of every member's bytes, in order
  double jpeg_decode_seconds = 0;   // inside the JPEG decoder
  std::vector<std::string> names;   // the pairs written, "sa_<n>"
  std::vector<std::string> errors;  // naming the member and the problem
};

// Reads `input` (a .tar, possibly compressed, or a folder of sa_*.jpg and
// sa_*.json) and writes the kept pairs into `output_dir` (each file to a
// temporary name, then renamed). Errors: the input cannot be read to its end
// (a truncated or corrupt tar: nothing of the shard should be trusted).
absl::StatusOr<Sa1bShardReport> ProcessSa1bShard(
    const std::string& input, const std::string& output_dir,
    const Sa1bFilterOptions& filters);

}  // namespace sam2::data

#endif  // SAM2_DATA_CONVERT_SA1B_SHARD_H_
