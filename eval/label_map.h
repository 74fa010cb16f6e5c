// A mask or annotation PNG read as the reference scorer reads it,
// `np.array(PIL.Image.open(path))`: the stored values, not colours.
#ifndef SAM2_EVAL_LABEL_MAP_H_
#define SAM2_EVAL_LABEL_MAP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sam2::eval {

// One value per pixel, row-major: palette indices (object ids in DAVIS
// layout) or gray levels.
struct LabelMap {
  int height = 0;
  int width = 0;
  std::vector<uint16_t> values;
};

// Reads a single-channel PNG with PIL's values: palette PNGs give their
// indices; gray gives its samples (1-bit as 0/1 like PIL's mode "1", 2- and
// 4-bit scaled to 0..255 like PIL's "L;2"/"L;4", 16-bit as stored like
// PIL's "I"). Gray+alpha, RGB and RGBA are refused: the reference would
// score their channels as extra image rows, which no annotation means.
// Errors name `path`.
absl::StatusOr<LabelMap> ReadLabelPng(const std::string& path);

// SA-V layout: one object per PNG. Checks that the map holds at most two
// distinct values (as the reference asserts) and turns it into 0/1 by
// `> 0`. Errors name `path`.
absl::Status BinarizeSavMask(const std::string& path, LabelMap* map);

}  // namespace sam2::eval

#endif  // SAM2_EVAL_LABEL_MAP_H_
