#include "sam2/modeling/backbones/utils.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <tuple>

namespace sam2::modeling {
namespace {

// The plain ops, also the forward of the node below.
at::Tensor NormedRows(const at::Tensor& normed, int64_t window_size) {
  return window_size > 0 ? WindowPartition(normed, window_size).first : normed;
}

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
    const at::Tensor grad = grads[0].reshape({-1, weight.size(0)});
    // The same kernel on the same input: bitwise the forward's rows.
    const at::Tensor rows = NormedRows(
        std::get<0>(at::native_layer_norm(x, {channels}, norm_weight,
                                          norm_bias,
                                          ctx->saved_data["eps"].toDouble())),
        window_size);
    // needs_input_grad counts the tensor arguments only: x, norm_weight,
    // norm_bias, weight, bias.
    at::Tensor grad_weight, grad_bias;
    if (ctx->needs_input_grad(3)) {
      grad_weight = grad.t().mm(rows.reshape({-1, channels}));
    }
    if (ctx->needs_input_grad(4)) grad_bias = grad.sum(0);
    at::Tensor grad_x, grad_norm_weight, grad_norm_bias;
    if (ctx->needs_input_grad(0) || ctx->needs_input_grad(1) ||
        ctx->needs_input_grad(2)) {
      at::Tensor grad_normed = grad.mm(weight).view(rows.sizes());
      if (window_size > 0) {
        // The partition's adjoint: windows back in place, padding dropped.
        const int64_t h = x.size(1), w = x.size(2);
        const int64_t pad_h = (window_size - h % window_size) % window_size;
        const int64_t pad_w = (window_size - w % window_size) % window_size;
        grad_normed = WindowUnpartition(grad_normed, window_size,
                                        {h + pad_h, w + pad_w}, {h, w});
      }
      std::tie(grad_x, grad_norm_weight, grad_norm_bias) =
          at::native_layer_norm_backward(
              grad_normed.contiguous(), x, {channels}, mean, rstd,
              norm_weight, norm_bias,
              {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
               ctx->needs_input_grad(2)});
    }
    return {grad_x,       grad_norm_weight, grad_norm_bias, at::Tensor(),
            grad_weight,  grad_bias,        at::Tensor()};
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
    return linear.ptr()->forward(
        NormedRows(norm.ptr()->forward(x), window_size));
  }
  return NormPartitionLinearFunction::apply(x, norm->weight, norm->bias,
                                            o.eps(), linear->weight,
                                            linear->bias, window_size);
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
