// COCO run-length encoded masks, bit-compatible with pycocotools' mask API.
//
// A mask of size height x width is flattened in COLUMN-MAJOR (Fortran) order
// and stored as run lengths that alternate 0s and 1s, starting with a (maybe
// empty) run of 0s. The compressed string form ("counts" in COCO / SA-1B /
// SA-V JSON) writes each count as a LEB128-like sequence of 6-bit characters
// ('0' + chunk, 5 value bits, 0x20 = more chunks follow, bit 0x10 of the last
// chunk = sign), counts from the 4th on (index > 2) as the difference to the
// count two places earlier.
//
// Masks handed in and out (sam2::data::Mask) are ROW-MAJOR; the column-major
// order is internal to the run lengths.
#ifndef SAM2_DATA_CODECS_RLE_H_
#define SAM2_DATA_CODECS_RLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "data/codecs/image.h"

namespace sam2::data {

struct Rle {
  int height = 0;
  int width = 0;
  std::vector<uint32_t> counts;  // column-major runs, 0s first
};

// pycocotools toBbox: [x, y, width, height] of the set pixels, inclusive
// extent (width = x_max - x_min + 1); all zeros for an empty mask.
struct RleBox {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

// OK iff height, width >= 0 and the counts sum to exactly height * width.
// `source` names the file (or object) in the error message.
absl::Status ValidateRle(const Rle& rle, absl::string_view source);

// Parses pycocotools' compressed string. Fails on characters outside the
// alphabet ('0'..'o'), a count that is cut off, negative counts, or counts
// that do not cover height * width exactly.
absl::StatusOr<Rle> RleFromString(absl::string_view counts, int height,
                                  int width, absl::string_view source);

// The compressed string of a run-length encoding (pycocotools rleToString).
std::string RleToString(const Rle& rle);

// Uncompressed counts (COCO "iscrowd" style [c0, c1, ...]), validated.
absl::StatusOr<Rle> RleFromCounts(std::vector<uint32_t> counts, int height,
                                  int width, absl::string_view source);

// Run-length encodes a row-major binary mask (any non-zero byte is "set").
Rle EncodeMask(const Mask& mask);

// Decodes to a row-major 0/1 mask; validates the counts first.
absl::StatusOr<Mask> DecodeRle(const Rle& rle, absl::string_view source);

// Number of set pixels (sum of the odd-indexed runs), no decoding.
int64_t RleArea(const Rle& rle);

// Bounding box as pycocotools toBbox, no decoding.
RleBox RleToBbox(const Rle& rle);

// Union (or intersection when `intersect`) of same-size masks, as
// pycocotools merge. An empty list gives an error; one mask is returned as is.
absl::StatusOr<Rle> MergeRles(const std::vector<Rle>& rles, bool intersect,
                              absl::string_view source);

}  // namespace sam2::data

#endif  // SAM2_DATA_CODECS_RLE_H_
