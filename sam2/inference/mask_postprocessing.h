// The video predictor's mask post-processing (the reference's
// sam2/utils/misc.py get_connected_components and fill_holes_in_mask_scores).
//
// The reference labels components with a CUDA kernel (block-based
// union-find, 8-connectivity); where that extension is missing (any CPU
// run), fill_holes_in_mask_scores warns and returns the scores unchanged.
// Here the labelling runs on the CPU for every device, so our output equals
// the reference's CUDA output everywhere, also where the reference on CPU
// would skip the filling.
#ifndef SAM2_INFERENCE_MASK_POSTPROCESSING_H_
#define SAM2_INFERENCE_MASK_POSTPROCESSING_H_

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace sam2::inference {

// For a binary mask [N, 1, H, W] (bool or 0/nonzero of any dtype, any
// device): int32 [N, 1, H, W] on the mask's device holding, at each set
// pixel, the area of its 8-connected component within its own batch element
// (diagonal neighbours connect), and 0 at unset pixels. Any H and W (the
// reference's kernel needs even ones).
at::Tensor ConnectedComponentAreas(const at::Tensor& mask);

// fill_holes_in_mask_scores: the background (scores <= 0) components of
// area <= max_area, wherever they lie (also at the border: only the area
// counts), are set to 0.1; other scores are returned unchanged. scores
// float [N, 1, H, W]; max_area > 0.
at::Tensor FillHolesInMaskScores(const at::Tensor& scores, int64_t max_area);

}  // namespace sam2::inference

#endif  // SAM2_INFERENCE_MASK_POSTPROCESSING_H_
