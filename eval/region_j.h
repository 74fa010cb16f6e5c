// Region similarity J (mask IoU) of one object on one frame, with the
// reference's (vos-benchmark's `get_iou`) empty-mask convention.
#ifndef SAM2_EVAL_REGION_J_H_
#define SAM2_EVAL_REGION_J_H_

#include <cstdint>

#include "data/codecs/image.h"

namespace sam2::eval {

// J from pixel counts: 1 when both masks are empty (no epsilon), else
// intersection / union.
double IouFromCounts(int64_t intersection, int64_t pixel_sum);

// J of two same-sized 0/1 masks.
double RegionJ(const data::Mask& pred, const data::Mask& gt);

}  // namespace sam2::eval

#endif  // SAM2_EVAL_REGION_J_H_
