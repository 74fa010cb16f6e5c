// Image / Mask <-> at::Tensor. A separate target (:tensor_convert) so that
// the codecs themselves build without LibTorch.
#ifndef SAM2_DATA_CODECS_TENSOR_CONVERT_H_
#define SAM2_DATA_CODECS_TENSOR_CONVERT_H_

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "data/codecs/image.h"

namespace sam2::data {

// uint8 CPU tensor [H, W, C] sharing the image's buffer: no copy, the tensor
// owns the moved-in pixels.
at::Tensor ImageToTensor(Image image);
// uint8 CPU tensor [H, W] (values 0/1), no copy.
at::Tensor MaskToTensor(Mask mask);
// Copies a uint8 tensor [H, W, C] (or [H, W], read as C = 1) into an Image;
// any device or memory layout.
absl::StatusOr<Image> TensorToImage(const at::Tensor& tensor);

}  // namespace sam2::data

#endif  // SAM2_DATA_CODECS_TENSOR_CONVERT_H_
