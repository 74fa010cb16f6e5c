#include "sam2/modeling/position_encoding.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cmath>
#include <vector>

namespace sam2::modeling {
namespace {

using at::indexing::None;
using at::indexing::Slice;

constexpr double kPi = 3.14159265358979323846;

// Interleaves sin of the even and cos of the odd channels of `pos` [..., F]
// (the reference's stack((p[..., 0::2].sin(), p[..., 1::2].cos())).flatten).
at::Tensor InterleaveSinCos(const at::Tensor& pos) {
  const int64_t last = pos.dim() - 1;
  at::Tensor even = pos.slice(last, 0, c10::nullopt, 2).sin();
  at::Tensor odd = pos.slice(last, 1, c10::nullopt, 2).cos();
  return at::stack({even, odd}, last + 1).flatten(last);
}

}  // namespace

// ---------------------------------------------------------------------------
PositionEmbeddingSineImpl::PositionEmbeddingSineImpl(
    const PositionEmbeddingSineOptions& options)
    : options_(options) {
  TORCH_CHECK(options_.num_pos_feats % 2 == 0, "Expecting even model width");
  half_feats_ = options_.num_pos_feats / 2;
  if (options_.scale.has_value() && !options_.normalize) {
    TORCH_CHECK(false, "normalize should be True if scale is passed");
  }
  scale_ = options_.scale.value_or(2 * kPi);
}

at::Tensor PositionEmbeddingSineImpl::dim_t(const at::Device& device) const {
  at::Tensor t = at::arange(
      half_feats_, at::TensorOptions().dtype(at::kFloat).device(device));
  return at::pow(options_.temperature,
                 2 * at::div(t, 2, "floor") / half_feats_);
}

std::pair<at::Tensor, at::Tensor> PositionEmbeddingSineImpl::encode_xy(
    const at::Tensor& x, const at::Tensor& y) const {
  TORCH_CHECK(x.dim() == 1 && y.dim() == 1 && x.size(0) == y.size(0),
              "encode_xy expects two 1-D tensors of the same length");
  at::Tensor x_embed = x * scale_;
  at::Tensor y_embed = y * scale_;
  at::Tensor d = dim_t(x.device());
  at::Tensor pos_x = x_embed.index({Slice(), None}) / d;
  at::Tensor pos_y = y_embed.index({Slice(), None}) / d;
  return {InterleaveSinCos(pos_x), InterleaveSinCos(pos_y)};
}

at::Tensor PositionEmbeddingSineImpl::encode_boxes(const at::Tensor& x,
                                                   const at::Tensor& y,
                                                   const at::Tensor& w,
                                                   const at::Tensor& h) {
  at::NoGradGuard no_grad;
  auto [pos_x, pos_y] = encode_xy(x, y);
  return at::cat(
      {pos_y, pos_x, h.index({Slice(), None}), w.index({Slice(), None})}, 1);
}

at::Tensor PositionEmbeddingSineImpl::encode_points(const at::Tensor& x,
                                                    const at::Tensor& y,
                                                    const at::Tensor& labels) {
  at::NoGradGuard no_grad;
  TORCH_CHECK(
      x.sizes() == y.sizes() && x.sizes() == labels.sizes() && x.dim() == 2,
      "encode_points expects x, y, labels of the same [B, N] shape");
  const int64_t b = x.size(0), n = x.size(1);
  auto [pos_x, pos_y] = encode_xy(x.flatten(), y.flatten());
  pos_x = pos_x.reshape({b, n, -1});
  pos_y = pos_y.reshape({b, n, -1});
  return at::cat({pos_y, pos_x, labels.index({Slice(), Slice(), None})}, 2);
}

at::Tensor PositionEmbeddingSineImpl::compute(int64_t height, int64_t width,
                                              const at::Device& device) const {
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
  at::Tensor y_embed =
      at::arange(1, height + 1, opts).view({1, -1, 1}).repeat({1, 1, width});
  at::Tensor x_embed =
      at::arange(1, width + 1, opts).view({1, 1, -1}).repeat({1, height, 1});
  if (options_.normalize) {
    constexpr double kEps = 1e-6;
    y_embed = y_embed / (y_embed.slice(1, -1) + kEps) * scale_;
    x_embed = x_embed / (x_embed.slice(2, -1) + kEps) * scale_;
  }
  at::Tensor d = dim_t(device);
  at::Tensor pos_x = x_embed.unsqueeze(-1) / d;
  at::Tensor pos_y = y_embed.unsqueeze(-1) / d;
  pos_x = InterleaveSinCos(pos_x);
  pos_y = InterleaveSinCos(pos_y);
  return at::cat({pos_y, pos_x}, 3).permute({0, 3, 1, 2})[0];
}

at::Tensor PositionEmbeddingSineImpl::forward(const at::Tensor& x) {
  at::NoGradGuard no_grad;
  const int64_t batch = x.size(0);
  const std::pair<int64_t, int64_t> key{x.size(-2), x.size(-1)};
  at::Tensor pos;
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      it =
          cache_.emplace(key, compute(key.first, key.second, x.device())).first;
    }
    pos = it->second;
  }
  return pos.to(x.device()).unsqueeze(0).repeat({batch, 1, 1, 1});
}

// ---------------------------------------------------------------------------
PositionEmbeddingRandomImpl::PositionEmbeddingRandomImpl(
    const PositionEmbeddingRandomOptions& options)
    : options_(options) {
  double scale = options_.scale.value_or(1.0);
  if (scale <= 0.0) scale = 1.0;
  positional_encoding_gaussian_matrix =
      register_buffer("positional_encoding_gaussian_matrix",
                      scale * at::randn({2, options_.num_pos_feats}));
}

at::Tensor PositionEmbeddingRandomImpl::pe_encoding(
    const at::Tensor& coords_in) const {
  at::Tensor coords = 2 * coords_in - 1;
  coords = at::matmul(coords, positional_encoding_gaussian_matrix);
  coords = (2 * kPi) * coords;
  return at::cat({at::sin(coords), at::cos(coords)}, -1);
}

at::Tensor PositionEmbeddingRandomImpl::forward(std::array<int64_t, 2> size) {
  const int64_t h = size[0], w = size[1];
  at::Tensor grid = at::ones(
      {h, w}, at::TensorOptions()
                  .dtype(at::kFloat)
                  .device(positional_encoding_gaussian_matrix.device()));
  at::Tensor y_embed = grid.cumsum(0) - 0.5;
  at::Tensor x_embed = grid.cumsum(1) - 0.5;
  y_embed = y_embed / h;
  x_embed = x_embed / w;
  at::Tensor pe = pe_encoding(at::stack({x_embed, y_embed}, -1));
  return pe.permute({2, 0, 1});
}

at::Tensor PositionEmbeddingRandomImpl::forward_with_coords(
    const at::Tensor& coords_input, std::array<int64_t, 2> image_size) {
  TORCH_CHECK(coords_input.dim() == 3 && coords_input.size(2) == 2,
              "forward_with_coords expects [B, N, 2] coordinates");
  at::Tensor coords = coords_input.clone();
  at::Tensor x = coords.select(2, 0) / image_size[1];
  at::Tensor y = coords.select(2, 1) / image_size[0];
  return pe_encoding(at::stack({x, y}, 2).to(at::kFloat));
}

// ---------------------------------------------------------------------------
at::Tensor ComputeAxialCis(int64_t dim, int64_t end_x, int64_t end_y,
                           double theta) {
  const auto float_opts = at::TensorOptions().dtype(at::kFloat);
  at::Tensor exponents =
      at::arange(0, dim, 4, at::TensorOptions().dtype(at::kLong))
          .slice(0, 0, dim / 4)
          .to(at::kFloat) /
      dim;
  // Python's `1.0 / t` is t.reciprocal() * 1.0.
  at::Tensor freqs = at::reciprocal(at::pow(theta, exponents));

  at::Tensor t = at::arange(end_x * end_y, float_opts);
  at::Tensor t_x = at::remainder(t, end_x);
  at::Tensor t_y = at::div(t, end_x, "floor");
  at::Tensor freqs_x = at::outer(t_x, freqs);
  at::Tensor freqs_y = at::outer(t_y, freqs);
  at::Tensor cis_x = at::stack({at::cos(freqs_x), at::sin(freqs_x)}, -1);
  at::Tensor cis_y = at::stack({at::cos(freqs_y), at::sin(freqs_y)}, -1);
  return at::cat({cis_x, cis_y}, 1);
}

namespace {

// x [..., N, D] times the unit complex numbers (cos, sin) [N, D/2] on
// consecutive channel pairs; same products and sums as complex64 multiply.
at::Tensor RotatePairs(const at::Tensor& x, const at::Tensor& cos,
                       const at::Tensor& sin) {
  std::vector<int64_t> pair_shape(x.sizes().begin(), x.sizes().end() - 1);
  pair_shape.push_back(-1);
  pair_shape.push_back(2);
  at::Tensor pairs = x.to(at::kFloat).reshape(pair_shape);
  at::Tensor a = pairs.select(-1, 0);
  at::Tensor b = pairs.select(-1, 1);
  at::Tensor real = a * cos - b * sin;
  at::Tensor imag = a * sin + b * cos;
  return at::stack({real, imag}, -1).flatten(-2, -1);
}

}  // namespace

std::pair<at::Tensor, at::Tensor> ApplyRotaryEnc(const at::Tensor& xq,
                                                 const at::Tensor& xk,
                                                 const at::Tensor& freqs_cis,
                                                 bool repeat_freqs_k) {
  TORCH_CHECK(freqs_cis.dim() == 3 && freqs_cis.size(2) == 2,
              "freqs_cis must be [N, D/2, 2]");
  TORCH_CHECK(
      freqs_cis.size(0) == xq.size(-2) && freqs_cis.size(1) * 2 == xq.size(-1),
      "freqs_cis shape ", freqs_cis.sizes(), " does not match queries ",
      xq.sizes());
  at::Tensor cos = freqs_cis.select(-1, 0);
  at::Tensor sin = freqs_cis.select(-1, 1);
  at::Tensor xq_out = RotatePairs(xq, cos, sin).to(xq.scalar_type());
  if (xk.size(-2) == 0) return {xq_out, xk};  // no keys left to rotate
  if (repeat_freqs_k) {
    const int64_t r = xk.size(-2) / xq.size(-2);
    cos = cos.repeat({r, 1});
    sin = sin.repeat({r, 1});
  }
  at::Tensor xk_out = RotatePairs(xk, cos, sin).to(xk.scalar_type());
  return {xq_out, xk_out};
}

}  // namespace sam2::modeling
