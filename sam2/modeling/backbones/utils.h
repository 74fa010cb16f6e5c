// Windowing helpers and the patch embedding of the Hiera trunk (port of the
// reference sam2/modeling/backbones/utils.py).
#ifndef SAM2_MODELING_BACKBONES_UTILS_H_
#define SAM2_MODELING_BACKBONES_UTILS_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace sam2::modeling {

// Splits x [B, H, W, C] into non-overlapping window_size x window_size
// windows [B * nH * nW, ws, ws, C], zero-padding H and W at the bottom/right
// up to multiples of the window. Returns the windows and the padded (Hp, Wp).
std::pair<at::Tensor, std::array<int64_t, 2>> WindowPartition(
    const at::Tensor& x, int64_t window_size);

// Inverse of WindowPartition: windows -> [B, H, W, C], dropping the padding.
at::Tensor WindowUnpartition(const at::Tensor& windows, int64_t window_size,
                             std::array<int64_t, 2> pad_hw,
                             std::array<int64_t, 2> hw);

// linear(window_partition(x)) for x [B, H, W, C]: the windows
// [B * nH * nW, ws, ws, out] of the layer's output. Where the windows pad x,
// the layer runs on x's own rows only and the padding rows are its bias
// (what the layer gives for the zero rows the reference pads with): in
// SAM 2's Hiera at 256 px the windows of 14 hold a 16 x 16 map, so the
// reference multiplies three rows for each real one. Differs from the
// reference on purpose: the padding rows are the bias exactly, the others
// are the layer's product on fewer rows (float rounding of the GEMM only).
// In CPU float training one autograd node; the bias gradient sums all
// window rows, as the reference's does. window_size 0: the plain layer.
at::Tensor PartitionedLinear(const at::Tensor& x,
                             const torch::nn::Linear& linear,
                             int64_t window_size);

// How `size` rows (or columns) of an image lie in windows of `window_size`:
// a run of whole windows, then the last window's rows where it is partial.
struct WindowSpan {
  int64_t first_window = 0;  // index of the run's first window
  int64_t windows = 0;       // windows in the run
  int64_t size = 0;          // rows of the image in each of them
  int64_t image_start = 0;   // the image row of the run's first row
};
std::vector<WindowSpan> WindowSpans(int64_t size, int64_t window_size);

// linear(window_partition(layer_norm(x))) (window_size 0: no partition) for
// x [B, H, W, C], the norm over C: in CPU training one autograd node that
// keeps x and the norm's statistics (x is what the norm keeps anyway) instead
// of the normalised, partitioned copy that the linear layer would keep, and
// recomputes it in the backward pass. Where the windows pad x, the layer runs
// on the unpadded rows as in PartitionedLinear; elsewhere the values are
// bitwise those of the ops one by one. Gradients: autograd's formulas (the
// layer norm's backward kernel), equal to float rounding. Elsewhere (CUDA,
// no gradients) the ops, with PartitionedLinear's rows.
at::Tensor NormPartitionLinear(const at::Tensor& x,
                               const torch::nn::LayerNorm& norm,
                               const torch::nn::Linear& linear,
                               int64_t window_size);

// Conv2d "proj" from pixels to patches; output is channels-last [B, H, W, C].
struct PatchEmbedOptions {
  std::array<int64_t, 2> kernel_size = {7, 7};
  std::array<int64_t, 2> stride = {4, 4};
  std::array<int64_t, 2> padding = {3, 3};
  int64_t in_chans = 3;
  int64_t embed_dim = 768;
};

class PatchEmbedImpl : public torch::nn::Module {
 public:
  explicit PatchEmbedImpl(const PatchEmbedOptions& options = {});

  at::Tensor forward(const at::Tensor& x);

  const PatchEmbedOptions& options() const { return options_; }
  torch::nn::Conv2d proj{nullptr};

 private:
  PatchEmbedOptions options_;
};
TORCH_MODULE(PatchEmbed);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_BACKBONES_UTILS_H_
