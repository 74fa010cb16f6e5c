// Boundary F-measure of one object on one frame, as the reference computes it
// (davis2017-evaluation's `f_measure` inside vos-benchmark's Evaluator):
// `_seg2bmap` boundaries, each dilated by `cv2.dilate` with
// `skimage.morphology.disk(r)`, precision/recall of boundary pixels that fall
// inside the other boundary's dilation.
#ifndef SAM2_EVAL_BOUNDARY_F_H_
#define SAM2_EVAL_BOUNDARY_F_H_

#include "data/codecs/image.h"

namespace sam2::eval {

// The disk radius: `np.ceil(0.008 * np.linalg.norm((H, W)))` in float64.
// The reference's threshold is 0.008 (< 1), so it is always this fraction of
// the diagonal, never a pixel count.
int BoundaryRadius(int height, int width);

// `_seg2bmap`: a pixel is on the boundary when it differs from its east,
// south or south-east neighbour; the last row compares east only, the last
// column south only, and the bottom-right pixel is never on it.
data::Mask Seg2Bmap(const data::Mask& seg);

// How many set pixels of `points` lie within the disk of `radius` (dx^2 +
// dy^2 <= r^2) around some set pixel of `boundary`: the sum of
// `points * cv2.dilate(boundary, disk(radius))` (outside pixels never count,
// cv2's default border for dilation).
int64_t CountWithinDilation(const data::Mask& points,
                            const data::Mask& boundary, int radius);

// F of two same-sized 0/1 masks with the reference's empty cases: no
// predicted boundary but a GT one (or the opposite) gives 0, neither gives 1.
double BoundaryF(const data::Mask& pred, const data::Mask& gt, int radius);

}  // namespace sam2::eval

#endif  // SAM2_EVAL_BOUNDARY_F_H_
