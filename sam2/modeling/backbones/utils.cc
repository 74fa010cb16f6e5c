#include "sam2/modeling/backbones/utils.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace sam2::modeling {

std::pair<at::Tensor, std::array<int64_t, 2>> WindowPartition(
    const at::Tensor& x_in, int64_t window_size) {
  TORCH_CHECK(x_in.dim() == 4, "WindowPartition expects [B, H, W, C]");
  TORCH_CHECK(window_size > 0, "window_size must be positive");
  const int64_t b = x_in.size(0), h = x_in.size(1), w = x_in.size(2),
                c = x_in.size(3);
  const int64_t pad_h = (window_size - h % window_size) % window_size;
  const int64_t pad_w = (window_size - w % window_size) % window_size;
  at::Tensor x = x_in;
  if (pad_h > 0 || pad_w > 0) {
    x = at::constant_pad_nd(x, {0, 0, 0, pad_w, 0, pad_h}, 0);
  }
  const int64_t hp = h + pad_h, wp = w + pad_w;
  x = x.view(
      {b, hp / window_size, window_size, wp / window_size, window_size, c});
  at::Tensor windows =
      x.permute({0, 1, 3, 2, 4, 5}).reshape({-1, window_size, window_size, c});
  return {windows, {hp, wp}};
}

at::Tensor WindowUnpartition(const at::Tensor& windows, int64_t window_size,
                             std::array<int64_t, 2> pad_hw,
                             std::array<int64_t, 2> hw) {
  const int64_t hp = pad_hw[0], wp = pad_hw[1];
  const int64_t h = hw[0], w = hw[1];
  const int64_t b = windows.size(0) / (hp * wp / window_size / window_size);
  at::Tensor x = windows.reshape(
      {b, hp / window_size, wp / window_size, window_size, window_size, -1});
  x = x.permute({0, 1, 3, 2, 4, 5}).reshape({b, hp, wp, -1});
  if (hp > h || wp > w) {
    x = x.slice(1, 0, h).slice(2, 0, w);
  }
  return x;
}

PatchEmbedImpl::PatchEmbedImpl(const PatchEmbedOptions& options)
    : options_(options) {
  proj = register_module(
      "proj", torch::nn::Conv2d(
                  torch::nn::Conv2dOptions(
                      options_.in_chans, options_.embed_dim,
                      {options_.kernel_size[0], options_.kernel_size[1]})
                      .stride({options_.stride[0], options_.stride[1]})
                      .padding({options_.padding[0], options_.padding[1]})));
}

at::Tensor PatchEmbedImpl::forward(const at::Tensor& x) {
  return proj->forward(x).permute({0, 2, 3, 1});
}

}  // namespace sam2::modeling
