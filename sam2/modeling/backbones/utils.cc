#include "sam2/modeling/backbones/utils.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <tuple>
#include <vector>

#include "sam2/modeling/sam2_utils.h"

namespace sam2::modeling {
namespace {

// The plain ops, also the forward of the node below where the windows don't
// pad x.
at::Tensor NormedRows(const at::Tensor& normed, int64_t window_size) {
  return window_size > 0 ? WindowPartition(normed, window_size).first : normed;
}

bool WindowsPad(const at::Tensor& x, int64_t window_size) {
  return window_size > 0 &&
         (x.size(1) % window_size != 0 || x.size(2) % window_size != 0);
}

// Calls copy(image_part, windows_part) for the rectangles in which an image
// [B, H, W, C] lies in its windows [B * nH * nW, ws, ws, C] (any strides):
// the whole windows, the last, partial row and column of windows, and their
// corner, each seen as a [B, n rows of windows, rows, n columns, columns, C]
// view of both. Up to four strided copies instead of a gather of rows.
template <typename CopyFn>
void ForEachWindowRegion(const at::Tensor& image, const at::Tensor& windows,
                         int64_t window_size, CopyFn&& copy) {
  const int64_t b = image.size(0), h = image.size(1), w = image.size(2),
                c = image.size(3);
  const int64_t ws = window_size;
  const int64_t nh = (h + ws - 1) / ws, nw = (w + ws - 1) / ws;
  const at::Tensor windows_6d = windows.view({b, nh, nw, ws, ws, c});
  for (const WindowSpan& rows : WindowSpans(h, ws)) {
    for (const WindowSpan& cols : WindowSpans(w, ws)) {
      const at::Tensor image_part =
          image
              .slice(1, rows.image_start,
                     rows.image_start + rows.windows * rows.size)
              .slice(2, cols.image_start,
                     cols.image_start + cols.windows * cols.size)
              .view({b, rows.windows, rows.size, cols.windows, cols.size, c});
      const at::Tensor windows_part =
          windows_6d
              .slice(1, rows.first_window, rows.first_window + rows.windows)
              .slice(2, cols.first_window, cols.first_window + cols.windows)
              .slice(3, 0, rows.size)
              .slice(4, 0, cols.size)
              .permute({0, 1, 3, 2, 4, 5});
      copy(image_part, windows_part);
    }
  }
}

// x [B, H, W, C] -> its windows [B * nH * nW, ws, ws, C], the padding rows
// `fill` [C] (zeros where undefined). No autograd.
at::Tensor ScatterToWindows(const at::Tensor& x, int64_t window_size,
                            const at::Tensor& fill) {
  const int64_t ws = window_size;
  const int64_t nh = (x.size(1) + ws - 1) / ws, nw = (x.size(2) + ws - 1) / ws;
  at::Tensor windows =
      at::empty({x.size(0) * nh * nw, ws, ws, x.size(3)}, x.options());
  // The padding: the last row of windows below x's last row, the last
  // column of windows right of its last column.
  const at::Tensor windows_6d =
      windows.view({x.size(0), nh, nw, ws, ws, x.size(3)});
  const auto fill_padding = [&fill](at::Tensor padding) {
    if (fill.defined()) {
      padding.copy_(fill.expand(padding.sizes()));
    } else {
      padding.zero_();
    }
  };
  if (x.size(1) % ws != 0) {
    fill_padding(windows_6d.select(1, nh - 1).slice(2, x.size(1) % ws));
  }
  if (x.size(2) % ws != 0) {
    fill_padding(windows_6d.select(2, nw - 1).slice(3, x.size(2) % ws));
  }
  ForEachWindowRegion(
      x, windows, ws,
      [](const at::Tensor& image, const at::Tensor& win) { win.copy_(image); });
  return windows;
}

// Windows -> the [B, H, W, C] image they hold, contiguous. No autograd.
at::Tensor GatherFromWindows(const at::Tensor& windows, int64_t window_size,
                             int64_t b, int64_t h, int64_t w) {
  at::Tensor image = at::empty({b, h, w, windows.size(3)}, windows.options());
  ForEachWindowRegion(
      image, windows, window_size,
      [](const at::Tensor& img, const at::Tensor& win) { img.copy_(win); });
  return image;
}

// The gradients of windows = ScatterToWindows(linear(rows), ws, bias) for
// rows [B, H, W, C] (the padding rows are the bias, so the bias gradient
// sums all window rows, the reference's sum over its padded product).
struct LinearGrads {
  at::Tensor rows, weight, bias;
};
LinearGrads PartitionedLinearBackward(const at::Tensor& grad_windows,
                                      const at::Tensor& rows,
                                      const at::Tensor& weight,
                                      int64_t window_size, bool need_rows,
                                      bool need_weight, bool need_bias) {
  const int64_t out = weight.size(0), channels = rows.size(-1);
  LinearGrads grads;
  if (need_bias) grads.bias = grad_windows.reshape({-1, out}).sum(0);
  const at::Tensor grad_out =
      GatherFromWindows(grad_windows, window_size, rows.size(0), rows.size(1),
                        rows.size(2))
          .view({-1, out});
  if (need_weight) {
    grads.weight = grad_out.t().mm(rows.reshape({-1, channels}));
  }
  if (need_rows) grads.rows = grad_out.mm(weight).view(rows.sizes());
  return grads;
}

// PartitionedLinear in CPU float training where the windows pad x: keeps x.
class PartitionedLinearFunction
    : public torch::autograd::Function<PartitionedLinearFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx,
                            const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, int64_t window_size) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["window_size"] = window_size;
    return ScatterToWindows(at::linear(x, weight, bias), window_size, bias);
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx,
      torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const LinearGrads g = PartitionedLinearBackward(
        grads[0], saved[0], saved[1], ctx->saved_data["window_size"].toInt(),
        ctx->needs_input_grad(0), ctx->needs_input_grad(1),
        ctx->needs_input_grad(2));
    return {g.rows, g.weight, g.bias, at::Tensor()};
  }
};

class NormPartitionLinearFunction
    : public torch::autograd::Function<NormPartitionLinearFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx,
                            const at::Tensor& x, const at::Tensor& norm_weight,
                            const at::Tensor& norm_bias, double eps,
                            const at::Tensor& weight, const at::Tensor& bias,
                            int64_t window_size) {
    auto [normed, mean, rstd] =
        at::native_layer_norm(x, {x.size(-1)}, norm_weight, norm_bias, eps);
    ctx->save_for_backward({x, mean, rstd, norm_weight, norm_bias, weight});
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["window_size"] = window_size;
    if (WindowsPad(x, window_size)) {
      return ScatterToWindows(at::linear(normed, weight, bias), window_size,
                              bias);
    }
    return at::linear(NormedRows(normed, window_size), weight, bias);
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx,
      torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& mean = saved[1];
    const at::Tensor& rstd = saved[2];
    const at::Tensor& norm_weight = saved[3];
    const at::Tensor& norm_bias = saved[4];
    const at::Tensor& weight = saved[5];
    const int64_t channels = x.size(-1);
    const int64_t window_size = ctx->saved_data["window_size"].toInt();
    // The same kernel on the same input: bitwise the forward's rows.
    const at::Tensor normed =
        std::get<0>(at::native_layer_norm(x, {channels}, norm_weight, norm_bias,
                                          ctx->saved_data["eps"].toDouble()));
    // needs_input_grad counts the tensor arguments only: x, norm_weight,
    // norm_bias, weight, bias.
    const bool need_normed = ctx->needs_input_grad(0) ||
                             ctx->needs_input_grad(1) ||
                             ctx->needs_input_grad(2);
    at::Tensor grad_weight, grad_bias, grad_normed;
    if (WindowsPad(x, window_size)) {
      LinearGrads g = PartitionedLinearBackward(
          grads[0], normed, weight, window_size, need_normed,
          ctx->needs_input_grad(3), ctx->needs_input_grad(4));
      grad_weight = g.weight;
      grad_bias = g.bias;
      grad_normed = g.rows;
    } else {
      const at::Tensor grad = grads[0].reshape({-1, weight.size(0)});
      const at::Tensor rows = NormedRows(normed, window_size);
      if (ctx->needs_input_grad(3)) {
        grad_weight = grad.t().mm(rows.reshape({-1, channels}));
      }
      if (ctx->needs_input_grad(4)) grad_bias = grad.sum(0);
      if (need_normed) grad_normed = grad.mm(weight).view(rows.sizes());
    }
    at::Tensor grad_x, grad_norm_weight, grad_norm_bias;
    if (need_normed) {
      if (window_size > 0 && !WindowsPad(x, window_size)) {
        // The partition's adjoint: windows back in place.
        const int64_t h = x.size(1), w = x.size(2);
        grad_normed =
            WindowUnpartition(grad_normed, window_size, {h, w}, {h, w});
      }
      std::tie(grad_x, grad_norm_weight, grad_norm_bias) =
          at::native_layer_norm_backward(
              grad_normed.contiguous(), x, {channels}, mean, rstd, norm_weight,
              norm_bias,
              {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
               ctx->needs_input_grad(2)});
    }
    return {grad_x,      grad_norm_weight, grad_norm_bias, at::Tensor(),
            grad_weight, grad_bias,        at::Tensor()};
  }
};

}  // namespace

at::Tensor NormPartitionLinear(const at::Tensor& x,
                               const torch::nn::LayerNorm& norm,
                               const torch::nn::Linear& linear,
                               int64_t window_size) {
  const torch::nn::LayerNormOptions& o = norm->options;
  const bool fuse = x.is_cpu() && torch::autograd::GradMode::is_enabled() &&
                    x.dim() == 4 && o.normalized_shape().size() == 1 &&
                    o.elementwise_affine() && linear->bias.defined();
  if (!fuse) {
    return PartitionedLinear(norm.ptr()->forward(x), linear, window_size);
  }
  return NormPartitionLinearFunction::apply(x, norm->weight, norm->bias,
                                            o.eps(), linear->weight,
                                            linear->bias, window_size);
}

at::Tensor PartitionedLinear(const at::Tensor& x,
                             const torch::nn::Linear& linear,
                             int64_t window_size) {
  if (!WindowsPad(x, window_size)) {
    return ApplyLinear(linear, NormedRows(x, window_size));
  }
  const at::Tensor& weight = linear->weight;
  const at::Tensor& bias = linear->bias;
  if (!torch::autograd::GradMode::is_enabled() ||
      !(x.requires_grad() || weight.requires_grad() ||
        (bias.defined() && bias.requires_grad()))) {
    return ScatterToWindows(at::linear(x, weight, bias), window_size, bias);
  }
  if (x.is_cpu() && x.scalar_type() == at::kFloat &&
      weight.scalar_type() == at::kFloat && bias.defined()) {
    return PartitionedLinearFunction::apply(x, weight, bias, window_size);
  }
  // Elsewhere (CUDA, where autocast casts per op) the same values from
  // differentiable ops: the product's windows padded with zeros, plus the
  // bias where they pad (0 * bias elsewhere leaves the product as it is),
  // in the product's dtype (bfloat16 under autocast).
  at::Tensor windows =
      WindowPartition(at::linear(x, weight, bias), window_size).first;
  if (!bias.defined()) return windows;
  const at::Tensor padding =
      1 - WindowPartition(
              at::ones({x.size(0), x.size(1), x.size(2), 1}, windows.options()),
              window_size)
              .first;
  return windows + (padding * bias).to(windows.scalar_type());
}

std::vector<WindowSpan> WindowSpans(int64_t size, int64_t window_size) {
  std::vector<WindowSpan> spans;
  const int64_t whole = size / window_size, rest = size % window_size;
  if (whole > 0) spans.push_back({0, whole, window_size, 0});
  if (rest > 0) spans.push_back({whole, 1, rest, whole * window_size});
  return spans;
}

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
