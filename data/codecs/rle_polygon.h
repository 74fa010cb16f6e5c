// COCO polygons as run-length encodings, bit-compatible with pycocotools
// (maskApi.c rleFrPoly, and merge() of an object's polygons): the polygon's
// vertices are scaled by 5, its edges walked pixel by pixel on that grid, and
// the crossings of the pixel-centre columns give the run boundaries, so the
// masks a COCO dataset means are exactly the masks pycocotools decodes.
#ifndef SAM2_DATA_CODECS_RLE_POLYGON_H_
#define SAM2_DATA_CODECS_RLE_POLYGON_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "data/codecs/rle.h"

namespace sam2::data {

// One polygon [x0, y0, x1, y1, ...] (at least 3 vertices) in an image of
// height x width. InvalidArgument (naming `source`) otherwise.
absl::StatusOr<Rle> RleFromPolygon(const std::vector<double>& xy, int height,
                                   int width, absl::string_view source);

// The union of same-size masks (pycocotools merge, intersect = 0).
absl::StatusOr<Rle> RleUnion(const std::vector<Rle>& rles,
                             absl::string_view source);

}  // namespace sam2::data

#endif  // SAM2_DATA_CODECS_RLE_POLYGON_H_
