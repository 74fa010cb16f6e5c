#include "eval/label_map.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "data/codecs/png.h"

namespace sam2::eval {
namespace {

using data::PngColorType;
using data::PngInfo;

// PIL unpacks 2- and 4-bit gray scaled to 8 bits (0x55, 0x11 per step);
// 1-bit gray becomes a bool array (0/1) and deeper samples keep their value.
uint16_t GrayScale(int bit_depth) {
  if (bit_depth == 2) return 0x55;
  if (bit_depth == 4) return 0x11;
  return 1;
}

}  // namespace

absl::StatusOr<LabelMap> ReadLabelPng(const std::string& path) {
  PngInfo info;
  absl::StatusOr<data::Image16> image = data::ReadPng16File(path, &info);
  if (!image.ok()) return image.status();
  if (image->channels != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": expected a single-channel (gray or palette) PNG, got ",
        image->channels, " channels"));
  }
  LabelMap map;
  map.height = image->height;
  map.width = image->width;
  map.values = std::move(image->data);
  if (info.color_type == PngColorType::kGray) {
    const uint16_t scale = GrayScale(info.bit_depth);
    if (scale != 1) {
      for (uint16_t& v : map.values) v = static_cast<uint16_t>(v * scale);
    }
  }
  return map;
}

absl::Status BinarizeSavMask(const std::string& path, LabelMap* map) {
  // Distinct values, stopping at the third: the reference asserts
  // len(np.unique(array)) <= 2.
  int distinct = 0;
  uint16_t seen[2] = {0, 0};
  for (uint16_t v : map->values) {
    if ((distinct > 0 && v == seen[0]) || (distinct > 1 && v == seen[1])) {
      continue;
    }
    if (distinct == 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(path,
                       ": found more than 1 object (more than 2 distinct "
                       "values); SA-V layout needs one object mask per PNG"));
    }
    seen[distinct++] = v;
  }
  for (uint16_t& v : map->values) v = v > 0 ? 1 : 0;
  return absl::OkStatus();
}

}  // namespace sam2::eval
