// Positional encodings (port of the reference
// sam2/modeling/position_encoding.py): the 2-D sine encoding of the FPN neck
// and memory encoder, SAM's random-Fourier encoding of the prompt encoder,
// and the axial rotary encoding (RoPE) of memory attention.
//
// RoPE differs from the reference in representation only: instead of complex
// tensors, the frequencies are a real tensor [N, D/2, 2] holding (cos, sin)
// -- i.e. torch.view_as_real of the reference's complex `freqs_cis` -- and the
// rotation is the complex product written out on real tensors.
#ifndef SAM2_MODELING_POSITION_ENCODING_H_
#define SAM2_MODELING_POSITION_ENCODING_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

namespace sam2::modeling {

// ---------------------------------------------------------------------------
// Sine/cosine encoding of the pixel grid (DETR style). Output has
// `num_pos_feats` channels: first the y half, then the x half.
struct PositionEmbeddingSineOptions {
  PositionEmbeddingSineOptions() = default;
  explicit PositionEmbeddingSineOptions(int64_t num_pos_feats)
      : num_pos_feats(num_pos_feats) {}

  int64_t num_pos_feats = 0;  // total channels, must be even
  double temperature = 10000.0;
  bool normalize = true;
  std::optional<double> scale;  // unset -> 2*pi; needs normalize when set
  // The reference's cache warm-up options (only act on CUDA, for
  // torch.compile). Accepted for config compatibility; no effect here.
  bool warmup_cache = true;
  int64_t image_size = 1024;
  std::array<int64_t, 4> strides = {4, 8, 16, 32};
};

class PositionEmbeddingSineImpl : public torch::nn::Module {
 public:
  explicit PositionEmbeddingSineImpl(
      const PositionEmbeddingSineOptions& options);

  // [B, num_pos_feats, H, W] for x of shape [B, *, H, W]. Computed without
  // gradient and cached per (H, W), as in the reference.
  at::Tensor forward(const at::Tensor& x);

  // Encodings of normalised coordinates (no gradient):
  // boxes -> [N, num_pos_feats + 2] = (pos_y, pos_x, h, w);
  at::Tensor encode_boxes(const at::Tensor& x, const at::Tensor& y,
                          const at::Tensor& w, const at::Tensor& h);
  // points x, y, labels [B, N] -> [B, N, num_pos_feats + 1].
  at::Tensor encode_points(const at::Tensor& x, const at::Tensor& y,
                           const at::Tensor& labels);

  const PositionEmbeddingSineOptions& options() const { return options_; }

 private:
  std::pair<at::Tensor, at::Tensor> encode_xy(const at::Tensor& x,
                                              const at::Tensor& y) const;
  at::Tensor dim_t(const at::Device& device) const;
  at::Tensor compute(int64_t height, int64_t width,
                     const at::Device& device) const;

  PositionEmbeddingSineOptions options_;
  int64_t half_feats_ = 0;  // the reference's self.num_pos_feats
  double scale_ = 0.0;
  std::mutex cache_mutex_;
  std::map<std::pair<int64_t, int64_t>, at::Tensor> cache_;  // [C, H, W]
};
TORCH_MODULE(PositionEmbeddingSine);

// ---------------------------------------------------------------------------
// Random spatial-frequency encoding. Buffer
// "positional_encoding_gaussian_matrix" [2, num_pos_feats] = scale * N(0, 1);
// output has 2 * num_pos_feats channels (sin half, cos half).
struct PositionEmbeddingRandomOptions {
  PositionEmbeddingRandomOptions() = default;
  explicit PositionEmbeddingRandomOptions(int64_t num_pos_feats)
      : num_pos_feats(num_pos_feats) {}

  int64_t num_pos_feats = 64;
  std::optional<double> scale;  // unset or <= 0 -> 1.0
};

class PositionEmbeddingRandomImpl : public torch::nn::Module {
 public:
  explicit PositionEmbeddingRandomImpl(
      const PositionEmbeddingRandomOptions& options = {});

  // [C, H, W] encoding of the centres of an H x W grid.
  at::Tensor forward(std::array<int64_t, 2> size);
  // Points in pixels ([B, N, 2] as (x, y)) of an image of size (H, W) ->
  // [B, N, C].
  at::Tensor forward_with_coords(const at::Tensor& coords_input,
                                 std::array<int64_t, 2> image_size);

  const PositionEmbeddingRandomOptions& options() const { return options_; }
  at::Tensor positional_encoding_gaussian_matrix;

 private:
  at::Tensor pe_encoding(const at::Tensor& coords) const;

  PositionEmbeddingRandomOptions options_;
};
TORCH_MODULE(PositionEmbeddingRandom);

// ---------------------------------------------------------------------------
// Rotary encoding helpers.

// Port of `compute_axial_cis(dim, end_x, end_y, theta)`: the first dim/4
// frequency pairs rotate by the x position (t % end_x), the next dim/4 by the
// y position (t / end_x), for t in [0, end_x * end_y). Returns float
// [end_x * end_y, dim / 2, 2] with (cos, sin) in the last dim.
at::Tensor ComputeAxialCis(int64_t dim, int64_t end_x, int64_t end_y,
                           double theta = 10000.0);

// Port of `apply_rotary_enc(xq, xk, freqs_cis, repeat_freqs_k)`: rotates
// consecutive channel pairs of xq [B, H, Nq, D] and xk [B, H, Nk, D] by
// freqs_cis [Nq, D/2, 2]. With repeat_freqs_k the frequencies are tiled
// Nk / Nq times along the sequence for the keys. An xk with Nk == 0 is
// returned as is.
std::pair<at::Tensor, at::Tensor> ApplyRotaryEnc(const at::Tensor& xq,
                                                 const at::Tensor& xk,
                                                 const at::Tensor& freqs_cis,
                                                 bool repeat_freqs_k = false);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_POSITION_ENCODING_H_
