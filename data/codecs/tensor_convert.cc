#include "data/codecs/tensor_convert.h"

#include <ATen/ops/from_blob.h>

#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sam2::data {
namespace {

// Hands a byte vector to a tensor: the deleter frees the vector when the
// tensor's storage goes away.
template <typename Bytes>
at::Tensor AdoptBytes(Bytes bytes, at::IntArrayRef sizes) {
  auto* owned = new Bytes(std::move(bytes));
  return at::from_blob(
      owned->data(), sizes, [owned](void*) { delete owned; },
      at::TensorOptions().dtype(at::kByte));
}

}  // namespace

at::Tensor ImageToTensor(Image image) {
  const int64_t h = image.height, w = image.width, c = image.channels;
  return AdoptBytes(std::move(image.data), {h, w, c});
}

at::Tensor MaskToTensor(Mask mask) {
  const int64_t h = mask.height, w = mask.width;
  return AdoptBytes(std::move(mask.data), {h, w});
}

absl::StatusOr<Image> TensorToImage(const at::Tensor& tensor) {
  if (tensor.scalar_type() != at::kByte ||
      (tensor.dim() != 2 && tensor.dim() != 3)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "TensorToImage: need a uint8 [H, W, C] or [H, W] tensor, got ",
        tensor.toString(), " of dim ", tensor.dim()));
  }
  const at::Tensor cpu = tensor.cpu().contiguous();
  Image image(static_cast<int>(cpu.size(0)), static_cast<int>(cpu.size(1)),
              cpu.dim() == 3 ? static_cast<int>(cpu.size(2)) : 1);
  std::memcpy(image.data.data(), cpu.data_ptr<uint8_t>(), image.data.size());
  return image;
}

}  // namespace sam2::data
