#include "sam2/modeling/patch_conv.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <vector>

namespace sam2::modeling {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool Is(const torch::ExpandingArray<2>& a, int64_t v0, int64_t v1) {
  return (*a)[0] == v0 && (*a)[1] == v1;
}

// Kernel 2, stride 2, no padding (or output padding), dilation 1, one group.
bool IsPatchConv(const torch::nn::detail::ConvNdOptions<2>& o) {
  const auto* padding = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  return Is(o.kernel_size(), 2, 2) && Is(o.stride(), 2, 2) &&
         Is(o.dilation(), 1, 1) && o.groups() == 1 && padding != nullptr &&
         Is(*padding, 0, 0) && Is(o.output_padding(), 0, 0);
}

bool UsePatchNode(const at::Tensor& x, const at::Tensor& weight,
                  const at::Tensor& bias) {
  if (!torch::autograd::GradMode::is_enabled() || !bias.defined()) {
    return false;
  }
  if (!(x.requires_grad() || weight.requires_grad() || bias.requires_grad())) {
    return false;
  }
  return x.is_cpu() && x.dim() == 4 && x.scalar_type() == at::kFloat &&
         weight.scalar_type() == at::kFloat && weight.is_contiguous() &&
         x.numel() > 0;
}

// ATen copies these 6-D permutations with an innermost loop of 2 elements,
// ~10x slower than the loops below, which read or write whole rows.

// x [B, C, H, W] (contiguous) -> [B * H/2 * W/2, C * 4]: each row one 2 x 2
// block, in the weight's (c, ky, kx) order.
at::Tensor Blocks(const at::Tensor& x_in) {
  const at::Tensor x = x_in.contiguous();
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t h2 = h / 2, w2 = w / 2;
  at::Tensor rows = at::empty({b * h2 * w2, c * 4}, x.options());
  const float* in = x.data_ptr<float>();
  float* out = rows.data_ptr<float>();
  at::parallel_for(0, b * c, 1, [&](int64_t first, int64_t last) {
    for (int64_t bc = first; bc < last; ++bc) {
      const int64_t n = bc / c, ch = bc % c;
      for (int64_t y = 0; y < h; ++y) {
        const float* src = in + (bc * h + y) * w;
        float* dst =
            out + ((n * h2 + y / 2) * w2) * c * 4 + ch * 4 + (y % 2) * 2;
        for (int64_t j = 0; j < w2; ++j) {
          dst[j * c * 4] = src[2 * j];
          dst[j * c * 4 + 1] = src[2 * j + 1];
        }
      }
    }
  });
  return rows;
}

// The inverse: rows [B * H * W, C * 4] -> [B, C, 2H, 2W].
at::Tensor Unblocks(const at::Tensor& rows_in, int64_t b, int64_t c, int64_t h,
                    int64_t w) {
  const at::Tensor rows = rows_in.contiguous();
  at::Tensor x = at::empty({b, c, 2 * h, 2 * w}, rows.options());
  const float* in = rows.data_ptr<float>();
  float* out = x.data_ptr<float>();
  at::parallel_for(0, b * c, 1, [&](int64_t first, int64_t last) {
    for (int64_t bc = first; bc < last; ++bc) {
      const int64_t n = bc / c, ch = bc % c;
      for (int64_t y = 0; y < 2 * h; ++y) {
        const float* src =
            in + ((n * h + y / 2) * w) * c * 4 + ch * 4 + (y % 2) * 2;
        float* dst = out + (bc * 2 * h + y) * 2 * w;
        for (int64_t j = 0; j < w; ++j) {
          dst[2 * j] = src[j * c * 4];
          dst[2 * j + 1] = src[j * c * 4 + 1];
        }
      }
    }
  });
  return x;
}

// x [B, C, H, W] -> [B * H * W, C], and back.
at::Tensor Pixels(const at::Tensor& x) {
  return x.permute({0, 2, 3, 1}).reshape({-1, x.size(1)});
}
at::Tensor Unpixels(const at::Tensor& rows, int64_t b, int64_t h, int64_t w) {
  return rows.view({b, h, w, rows.size(1)}).permute({0, 3, 1, 2}).contiguous();
}

// Conv2d(k=2, s=2): out pixel = W [Co, Ci*4] x block + bias.
class PatchConvFunction : public torch::autograd::Function<PatchConvFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x,
                            const at::Tensor& weight, const at::Tensor& bias) {
    const at::Tensor blocks = Blocks(x);
    const at::Tensor matrix = weight.view({weight.size(0), -1});
    ctx->save_for_backward({blocks, matrix});
    ctx->saved_data["shape"] = x.sizes().vec();
    return Unpixels(at::addmm(bias, blocks, matrix.t()), x.size(0),
                    x.size(2) / 2, x.size(3) / 2);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& blocks = saved[0];
    const at::Tensor& matrix = saved[1];
    const std::vector<int64_t> shape = ctx->saved_data["shape"].toIntVector();
    const at::Tensor g = Pixels(grads[0]);
    at::Tensor grad_x, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      const int64_t b = shape[0], c = shape[1], h = shape[2], w = shape[3];
      grad_x = Unblocks(g.mm(matrix), b, c, h / 2, w / 2);
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = g.t().mm(blocks).view({matrix.size(0), shape[1], 2, 2});
    }
    if (ctx->needs_input_grad(2)) grad_bias = g.sum(0);
    return {grad_x, grad_weight, grad_bias};
  }
};

// ConvTranspose2d(k=2, s=2): out block = W [Ci, Co*4]^T x pixel + bias.
class PatchConvTransposeFunction
    : public torch::autograd::Function<PatchConvTransposeFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x,
                            const at::Tensor& weight, const at::Tensor& bias) {
    const at::Tensor pixels = Pixels(x);
    const at::Tensor matrix = weight.view({weight.size(0), -1});
    ctx->save_for_backward({pixels, matrix});
    ctx->saved_data["shape"] = x.sizes().vec();
    const int64_t out_channels = weight.size(1);
    return Unblocks(at::addmm(bias.repeat_interleave(4), pixels, matrix),
                    x.size(0), out_channels, x.size(2), x.size(3));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& pixels = saved[0];
    const at::Tensor& matrix = saved[1];
    const std::vector<int64_t> shape = ctx->saved_data["shape"].toIntVector();
    const at::Tensor g = Blocks(grads[0]);
    at::Tensor grad_x, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      grad_x = Unpixels(g.mm(matrix.t()), shape[0], shape[2], shape[3]);
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = pixels.t().mm(g).view({shape[1], -1, 2, 2});
    }
    if (ctx->needs_input_grad(2)) {
      grad_bias = g.sum(0).view({-1, 4}).sum(1);
    }
    return {grad_x, grad_weight, grad_bias};
  }
};

}  // namespace

at::Tensor ApplyPatchConv(const torch::nn::Conv2d& conv, const at::Tensor& x) {
  const bool patch = IsPatchConv(conv->options) && x.dim() == 4 &&
                     x.size(2) % 2 == 0 && x.size(3) % 2 == 0;
  if (patch && UsePatchNode(x, conv->weight, conv->bias)) {
    return PatchConvFunction::apply(x, conv->weight, conv->bias);
  }
  return conv.ptr()->forward(x);
}

at::Tensor ApplyPatchConvTranspose(const torch::nn::ConvTranspose2d& conv,
                                   const at::Tensor& x) {
  if (IsPatchConv(conv->options) && UsePatchNode(x, conv->weight, conv->bias)) {
    return PatchConvTransposeFunction::apply(x, conv->weight, conv->bias);
  }
  return conv.ptr()->forward(x);
}

}  // namespace sam2::modeling
