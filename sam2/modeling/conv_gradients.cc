#include "sam2/modeling/conv_gradients.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <vector>

namespace sam2::modeling {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The k * k tap sums of one channel of one image, added to `taps`:
// taps[ky * k + kx] += sum over (oy, ox) of grad[oy][ox] *
// padded[oy + ky][ox + kx]. Each tap's products go to one accumulator per
// column first (a loop the compiler vectorises without reassociating a
// reduction), then to the tap.
__attribute__((target_clones("arch=x86-64-v3", "default"))) void
AddDepthwiseTaps(const float* __restrict grad, int64_t out_h, int64_t out_w,
                 const float* __restrict padded, int64_t padded_w,
                 int64_t kernel, float* __restrict columns,
                 float* __restrict taps) {
  for (int64_t ky = 0; ky < kernel; ++ky) {
    for (int64_t kx = 0; kx < kernel; ++kx) {
      std::fill_n(columns, out_w, 0.0f);
      for (int64_t oy = 0; oy < out_h; ++oy) {
        const float* g = grad + oy * out_w;
        const float* p = padded + (oy + ky) * padded_w + kx;
        for (int64_t ox = 0; ox < out_w; ++ox) columns[ox] += g[ox] * p[ox];
      }
      float sum = 0;
      for (int64_t ox = 0; ox < out_w; ++ox) sum += columns[ox];
      taps[ky * kernel + kx] += sum;
    }
  }
}

// The input gradient of one channel of one image of a depthwise convolution
// (stride 1): grad_in[y][x] = sum over (ky, kx) of weight[ky][kx] *
// padded[y + k - 1 - ky][x + k - 1 - kx], `padded` the output gradient with
// k - 1 - padding zeros around it.
__attribute__((target_clones("arch=x86-64-v3", "default"))) void
DepthwisePlaneInputGradient(const float* __restrict padded, int64_t padded_w,
                            const float* __restrict weight, int64_t kernel,
                            int64_t height, int64_t width,
                            float* __restrict grad_in) {
  std::fill_n(grad_in, height * width, 0.0f);
  for (int64_t ky = 0; ky < kernel; ++ky) {
    for (int64_t kx = 0; kx < kernel; ++kx) {
      const float w = weight[ky * kernel + kx];
      for (int64_t y = 0; y < height; ++y) {
        const float* q =
            padded + (y + kernel - 1 - ky) * padded_w + (kernel - 1 - kx);
        float* out = grad_in + y * width;
        for (int64_t x = 0; x < width; ++x) out[x] += w * q[x];
      }
    }
  }
}

// The input gradient of one image of a one-channel convolution:
// grad_in[oy * s + ky - p][ox * s + kx - p] += sum over c of
// weight[c][ky][kx] * grad[c][oy][ox], one output row and tap at a time.
__attribute__((target_clones("arch=x86-64-v3", "default"))) void
SingleChannelImageGradient(const float* __restrict grad, int64_t channels,
                           int64_t out_h, int64_t out_w,
                           const float* __restrict weight, int64_t kernel,
                           int64_t stride, int64_t padding, int64_t height,
                           int64_t width, float* __restrict row,
                           float* __restrict grad_in) {
  std::fill_n(grad_in, height * width, 0.0f);
  const int64_t plane = out_h * out_w;
  for (int64_t oy = 0; oy < out_h; ++oy) {
    for (int64_t ky = 0; ky < kernel; ++ky) {
      const int64_t iy = oy * stride + ky - padding;
      if (iy < 0 || iy >= height) continue;
      float* dst = grad_in + iy * width;
      for (int64_t kx = 0; kx < kernel; ++kx) {
        // The output columns whose tap kx lands inside the image.
        const int64_t first =
            std::max<int64_t>(0, (padding - kx + stride - 1) / stride);
        const int64_t reach = width - 1 + padding - kx;
        const int64_t last =
            reach < 0 ? 0 : std::min<int64_t>(out_w, reach / stride + 1);
        if (first >= last) continue;
        std::fill_n(row, out_w, 0.0f);
        for (int64_t c = 0; c < channels; ++c) {
          const float w = weight[(c * kernel + ky) * kernel + kx];
          const float* g = grad + c * plane + oy * out_w;
          for (int64_t ox = 0; ox < out_w; ++ox) row[ox] += w * g[ox];
        }
        const int64_t offset = kx - padding;
        for (int64_t ox = first; ox < last; ++ox) {
          dst[ox * stride + offset] += row[ox];
        }
      }
    }
  }
}

// plane [height, width] into the middle of padded [height + 2 * border,
// width + 2 * border], whose border stays as it is (zeros).
void CopyInsideBorder(const float* plane, int64_t height, int64_t width,
                      int64_t border, float* padded) {
  const int64_t padded_w = width + 2 * border;
  for (int64_t y = 0; y < height; ++y) {
    std::copy_n(plane + y * width, width,
                padded + (y + border) * padded_w + border);
  }
}

enum class ConvKind { kOther, kDepthwise, kSingleChannelInput, kPointwise };

bool Square(const torch::ExpandingArray<2>& a) { return (*a)[0] == (*a)[1]; }

ConvKind KindOf(const torch::nn::detail::ConvNdOptions<2>& o) {
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  const bool zeros =
      c10::get_if<torch::enumtype::kZeros>(&o.padding_mode()) != nullptr;
  if (padding == nullptr || !zeros || !Square(*padding) ||
      !Square(o.kernel_size()) || !Square(o.stride()) ||
      (*o.dilation())[0] != 1 || (*o.dilation())[1] != 1) {
    return ConvKind::kOther;
  }
  const int64_t kernel = (*o.kernel_size())[0];
  if (o.groups() == o.in_channels() && o.out_channels() == o.in_channels() &&
      (*o.stride())[0] == 1 && (**padding)[0] <= kernel - 1) {
    return ConvKind::kDepthwise;
  }
  if (o.in_channels() == 1 && o.groups() == 1) {
    return ConvKind::kSingleChannelInput;
  }
  if (kernel == 1 && (*o.stride())[0] == 1 && (**padding)[0] == 0 &&
      o.groups() == 1) {
    return ConvKind::kPointwise;
  }
  return ConvKind::kOther;
}

bool UseConvNode(const at::Tensor& x, const at::Tensor& weight,
                 const at::Tensor& bias) {
  if (!torch::autograd::GradMode::is_enabled()) return false;
  const bool bias_grad = bias.defined() && bias.requires_grad();
  if (!(x.requires_grad() || weight.requires_grad() || bias_grad)) {
    return false;
  }
  return x.is_cpu() && x.dim() == 4 && x.scalar_type() == at::kFloat &&
         weight.scalar_type() == at::kFloat && weight.is_contiguous() &&
         x.numel() > 0;
}

// The gradients of a 1 x 1 convolution, per image out = W [Co, Ci] x
// in [Ci, H * W] + bias, as matrix products: mkldnn's backward took ~0.25 ms
// for the prompt encoder's [2, 16, 16, 16] -> 64 (18 calls a parity-small
// step), these ~0.03 ms.
variable_list PointwiseBackward(const at::Tensor& grad, const at::Tensor& x_in,
                                const at::Tensor& weight, bool need_x,
                                bool need_weight, bool need_bias) {
  const at::Tensor x = x_in.contiguous();
  const int64_t batch = x.size(0), pixels = x.size(2) * x.size(3);
  const at::Tensor g = grad.view({batch, weight.size(0), pixels});
  const at::Tensor matrix = weight.view({weight.size(0), weight.size(1)});
  at::Tensor grad_x, grad_weight, grad_bias;
  if (need_x) {
    grad_x = at::empty(x.sizes(), x.options());
    const at::Tensor rows = grad_x.view({batch, x.size(1), pixels});
    const at::Tensor transposed = matrix.t();
    for (int64_t b = 0; b < batch; ++b) {
      at::Tensor out = rows.select(0, b);
      at::mm_out(out, transposed, g.select(0, b));
    }
  }
  if (need_weight) {
    const at::Tensor columns = x.view({batch, x.size(1), pixels});
    at::Tensor sum = at::mm(g.select(0, 0), columns.select(0, 0).t());
    for (int64_t b = 1; b < batch; ++b) {
      sum.addmm_(g.select(0, b), columns.select(0, b).t());
    }
    grad_weight = sum.view(weight.sizes());
  }
  if (need_bias) grad_bias = grad.sum({0, 2, 3});
  return {grad_x,       grad_weight,  grad_bias,   at::Tensor(),
          at::Tensor(), at::Tensor(), at::Tensor()};
}

class ConvFunction : public torch::autograd::Function<ConvFunction> {
 public:
  // kind: a ConvKind. stride and padding: the same along both axes. No bias
  // is an empty tensor: LibTorch 1.13's custom functions take no undefined
  // inputs.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x,
                            const at::Tensor& weight, const at::Tensor& bias,
                            int64_t stride, int64_t padding, int64_t groups,
                            int64_t kind) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["kind"] = kind;
    const bool has_bias = bias.numel() > 0;
    ctx->saved_data["has_bias"] = has_bias;
    return at::convolution(x, weight, has_bias ? bias : at::Tensor(),
                           {stride, stride}, {padding, padding}, {1, 1},
                           /*transposed=*/false, {0, 0}, groups);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& weight = saved[1];
    const int64_t stride = ctx->saved_data["stride"].toInt();
    const int64_t padding = ctx->saved_data["padding"].toInt();
    const int64_t groups = ctx->saved_data["groups"].toInt();
    const auto kind = static_cast<ConvKind>(ctx->saved_data["kind"].toInt());
    const bool has_bias = ctx->saved_data["has_bias"].toBool();
    const at::Tensor grad = grads[0].contiguous();
    const bool need_x = ctx->needs_input_grad(0);
    const bool need_weight = ctx->needs_input_grad(1);
    const bool need_bias = has_bias && ctx->needs_input_grad(2);
    if (kind == ConvKind::kPointwise) {
      return PointwiseBackward(grad, x, weight, need_x, need_weight, need_bias);
    }
    const bool ours_x =
        kind == ConvKind::kSingleChannelInput || kind == ConvKind::kDepthwise;
    const bool ours_weight = kind == ConvKind::kDepthwise;
    at::Tensor grad_x, grad_weight, grad_bias;
    if ((need_x && !ours_x) || (need_weight && !ours_weight)) {
      std::tie(grad_x, grad_weight, std::ignore) = at::convolution_backward(
          grad, x, weight, c10::nullopt, {stride, stride}, {padding, padding},
          {1, 1}, /*transposed=*/false, {0, 0}, groups,
          {need_x && !ours_x, need_weight && !ours_weight, false});
    }
    if (need_bias) grad_bias = grad.sum({0, 2, 3});
    if (need_x && kind == ConvKind::kSingleChannelInput) {
      grad_x = SingleChannelConvInputGradient(grad, weight, x.size(2),
                                              x.size(3), stride, padding);
    }
    if (need_x && kind == ConvKind::kDepthwise) {
      grad_x = DepthwiseConvInputGradient(grad, weight, padding);
    }
    if (need_weight && ours_weight) {
      grad_weight = DepthwiseConvWeightGradient(grad, x.contiguous(),
                                                weight.size(2), padding);
    }
    return {grad_x,       grad_weight,  grad_bias,   at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor DepthwiseConvWeightGradient(const at::Tensor& grad_output,
                                       const at::Tensor& input, int64_t kernel,
                                       int64_t padding) {
  TORCH_CHECK(grad_output.is_contiguous() && input.is_contiguous() &&
              grad_output.scalar_type() == at::kFloat &&
              input.scalar_type() == at::kFloat);
  const int64_t batch = input.size(0), channels = input.size(1);
  const int64_t height = input.size(2), width = input.size(3);
  const int64_t out_h = grad_output.size(2), out_w = grad_output.size(3);
  TORCH_CHECK(out_h == height + 2 * padding - kernel + 1 &&
              out_w == width + 2 * padding - kernel + 1 &&
              grad_output.size(1) == channels);
  const int64_t padded_h = height + 2 * padding, padded_w = width + 2 * padding;
  at::Tensor grad_weight =
      at::zeros({channels, 1, kernel, kernel}, input.options());
  const float* g = grad_output.data_ptr<float>();
  const float* in = input.data_ptr<float>();
  float* taps = grad_weight.data_ptr<float>();
  at::parallel_for(0, channels, 1, [&](int64_t first, int64_t last) {
    std::vector<float> padded(padded_h * padded_w, 0.0f);
    std::vector<float> columns(out_w);
    for (int64_t c = first; c < last; ++c) {
      for (int64_t b = 0; b < batch; ++b) {
        const float* plane = in + (b * channels + c) * height * width;
        CopyInsideBorder(plane, height, width, padding, padded.data());
        AddDepthwiseTaps(g + (b * channels + c) * out_h * out_w, out_h, out_w,
                         padded.data(), padded_w, kernel, columns.data(),
                         taps + c * kernel * kernel);
      }
    }
  });
  return grad_weight;
}

at::Tensor DepthwiseConvInputGradient(const at::Tensor& grad_output,
                                      const at::Tensor& weight,
                                      int64_t padding) {
  TORCH_CHECK(grad_output.is_contiguous() && weight.is_contiguous() &&
              grad_output.scalar_type() == at::kFloat &&
              weight.scalar_type() == at::kFloat && weight.size(1) == 1);
  const int64_t batch = grad_output.size(0), channels = grad_output.size(1);
  const int64_t out_h = grad_output.size(2), out_w = grad_output.size(3);
  const int64_t kernel = weight.size(2);
  const int64_t border = kernel - 1 - padding;
  TORCH_CHECK(weight.size(0) == channels && border >= 0);
  const int64_t height = out_h + kernel - 1 - 2 * padding;
  const int64_t width = out_w + kernel - 1 - 2 * padding;
  const int64_t padded_w = out_w + 2 * border;
  at::Tensor grad_in =
      at::empty({batch, channels, height, width}, grad_output.options());
  const float* g = grad_output.data_ptr<float>();
  const float* w = weight.data_ptr<float>();
  float* out = grad_in.data_ptr<float>();
  at::parallel_for(0, batch * channels, 1, [&](int64_t first, int64_t last) {
    std::vector<float> padded((out_h + 2 * border) * padded_w, 0.0f);
    for (int64_t bc = first; bc < last; ++bc) {
      const float* plane = g + bc * out_h * out_w;
      CopyInsideBorder(plane, out_h, out_w, border, padded.data());
      DepthwisePlaneInputGradient(padded.data(), padded_w,
                                  w + (bc % channels) * kernel * kernel, kernel,
                                  height, width, out + bc * height * width);
    }
  });
  return grad_in;
}

at::Tensor SingleChannelConvInputGradient(const at::Tensor& grad_output,
                                          const at::Tensor& weight,
                                          int64_t height, int64_t width,
                                          int64_t stride, int64_t padding) {
  TORCH_CHECK(grad_output.is_contiguous() && weight.is_contiguous() &&
              grad_output.scalar_type() == at::kFloat &&
              weight.scalar_type() == at::kFloat && weight.size(1) == 1);
  const int64_t batch = grad_output.size(0), channels = grad_output.size(1);
  const int64_t out_h = grad_output.size(2), out_w = grad_output.size(3);
  const int64_t kernel = weight.size(2);
  TORCH_CHECK(weight.size(0) == channels &&
              out_h == (height + 2 * padding - kernel) / stride + 1 &&
              out_w == (width + 2 * padding - kernel) / stride + 1);
  at::Tensor grad_in =
      at::empty({batch, 1, height, width}, grad_output.options());
  const float* g = grad_output.data_ptr<float>();
  const float* w = weight.data_ptr<float>();
  float* out = grad_in.data_ptr<float>();
  at::parallel_for(0, batch, 1, [&](int64_t first, int64_t last) {
    std::vector<float> row(out_w);
    for (int64_t b = first; b < last; ++b) {
      SingleChannelImageGradient(
          g + b * channels * out_h * out_w, channels, out_h, out_w, w, kernel,
          stride, padding, height, width, row.data(), out + b * height * width);
    }
  });
  return grad_in;
}

at::Tensor ApplyConv2d(const torch::nn::Conv2d& conv, const at::Tensor& x) {
  const torch::nn::detail::ConvNdOptions<2>& o = conv->options;
  const ConvKind kind = KindOf(o);
  if (kind == ConvKind::kOther || !UseConvNode(x, conv->weight, conv->bias)) {
    return conv.ptr()->forward(x);
  }
  const auto& padding = c10::get<torch::ExpandingArray<2>>(o.padding());
  const at::Tensor bias =
      conv->bias.defined() ? conv->bias : at::empty({0}, x.options());
  return ConvFunction::apply(x, conv->weight, bias, (*o.stride())[0],
                             (*padding)[0], o.groups(),
                             static_cast<int64_t>(kind));
}

}  // namespace sam2::modeling
