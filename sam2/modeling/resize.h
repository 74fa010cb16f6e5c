// Bilinear resizing as F.interpolate(x, size, mode="bilinear",
// align_corners=False) gives it, with a faster gradient on the CPU.
#ifndef SAM2_MODELING_RESIZE_H_
#define SAM2_MODELING_RESIZE_H_

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace sam2::modeling {

// x: [N, C, H, W]. The values are ATen's upsample_bilinear2d (bitwise). For
// float CPU inputs that require a gradient, the gradient is computed
// separably (rows, then columns) with ATen's interpolation weights: the same
// sums as ATen's upsample_bilinear2d_backward in another order, without its
// per-pixel scatter of four products.
at::Tensor ResizeBilinear(const at::Tensor& x, int64_t height, int64_t width);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_RESIZE_H_
