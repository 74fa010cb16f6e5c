#include "sam2/modeling/sam2_utils.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/version.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "sam2/modeling/batched_matmul.h"
#include "sam2/modeling/dropout.h"

namespace sam2::modeling {

at::Tensor ApplyActivation(Activation activation, const at::Tensor& x) {
  switch (activation) {
    case Activation::kRelu:
      return at::relu(x);
    case Activation::kGelu:
      return at::gelu(x);  // exact erf form, like nn.GELU()
    case Activation::kGlu:
      return at::glu(x, -1);
  }
  TORCH_CHECK(false, "unknown activation");
}

namespace {

// at::linear as one autograd node. Recorded op by op, a linear layer is an
// `addmm` (or `mm` + `add_`) node plus a `t` node for the weight and, for
// 3-D and 4-D inputs, view or reshape nodes around the product: three to
// five nodes and their view bookkeeping for every call, ~1000 calls in a
// parity-small step. The forward pass is at::linear itself; the backward pass
// makes the products autograd's formulas make (addmm's and mm's backward with
// a row-major input and the transposed weight), so values and gradients are
// bitwise those of the ops one by one. It keeps the input as given: op by op,
// a non-contiguous input above 2-D is kept as the contiguous copy matmul
// makes, here that copy is made again in the backward pass.
class LinearFunction : public torch::autograd::Function<LinearFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx,
                            const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias) {
    ctx->save_for_backward({x, weight});
    return at::linear(x, weight, bias);
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx,
      torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor grad = grads[0].reshape({-1, weight.size(0)});
    at::Tensor grad_x, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      grad_x = grad.mm(weight).view(x.sizes());
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = grad.t().mm(x.reshape({-1, x.size(-1)}));
    }
    if (ctx->needs_input_grad(2)) grad_bias = grad.sum(0);
    return {grad_x, grad_weight, grad_bias};
  }
};

bool UseLinearNode(const at::Tensor& x, const torch::nn::Linear& linear) {
  if (!torch::autograd::GradMode::is_enabled()) return false;
  const at::Tensor& w = linear->weight;
  const at::Tensor& b = linear->bias;
  // Layers without a bias stay op by op (SAM 2 has none).
  if (!b.defined()) return false;
  if (!(x.requires_grad() || w.requires_grad() || b.requires_grad())) {
    return false;
  }
  // CPU float only: on CUDA autocast casts the operands per op, which a
  // custom node would have to redo.
  if (!x.is_cpu() || x.dim() < 2 || x.scalar_type() != at::kFloat ||
      w.scalar_type() != at::kFloat || x.size(-1) != w.size(1) ||
      x.numel() == 0 || x.is_conj() || x.is_neg()) {
    return false;
  }
  // A 3-D input whose last two dimensions are transposed (x.transpose(1, 2)
  // of a contiguous tensor): at::matmul does not fold it into one product
  // but multiplies per batch item with the weight expanded, so the weight's
  // gradient is another sum than the one product below.
  const bool unfolded_3d =
      x.dim() == 3 && x.stride(2) != 1 && x.stride(0) == x.size(1) * x.size(2);
  return !unfolded_3d;
}

}  // namespace

at::Tensor ApplyLinear(const torch::nn::Linear& linear, const at::Tensor& x) {
  if (UseLinearNode(x, linear)) {
    return LinearFunction::apply(x, linear->weight, linear->bias);
  }
  return at::linear(x, linear->weight, linear->bias);
}

#if TORCH_VERSION_MAJOR < 2
namespace {

// The attention below as one autograd node that does not keep the attention
// matrix: its backward pass recomputes softmax((q * scale) @ k^T) from the
// kept q * scale and k (the same products, so the same values) and keeps
// the dropout mask as bytes. Op by op, autograd keeps the softmax output
// (and, with dropout, the float noise and the dropped matrix): for Hiera's
// windowed and global attention and the memory attention that is the
// largest part of a training step's activations. Values and gradients are
// bitwise those of the ops one by one (the same kernels in the same order).
class AttentionFunction : public torch::autograd::Function<AttentionFunction> {
 public:
  // q [..., Lq, E] (already scaled), kt [..., E, Lk], v [..., Lk, Ev], any
  // strides (the products read them where they are).
  static at::Tensor forward(torch::autograd::AutogradContext* ctx,
                            const at::Tensor& q, const at::Tensor& kt,
                            const at::Tensor& v, double dropout_p) {
    at::Tensor attn = at::softmax(BatchedMatmulNoGrad(q, kt), -1);
    at::Tensor keep;
    if (dropout_p > 0.0) {
      // Dropout's arithmetic: attn * (keep / (1 - p)).
      keep = DropoutKeepMask(attn, dropout_p);
      ApplyKeepMaskInPlace(attn, keep, dropout_p);
    }
    ctx->save_for_backward({q, kt, v, keep});
    ctx->saved_data["dropout_p"] = dropout_p;
    // [B, heads, L, E] written as [B, L, heads, E]: the heads' recombination
    // that follows every attention is a view then.
    if (q.dim() == 4) return BatchedMatmulNoGradTokensMajor(attn, v);
    return BatchedMatmulNoGrad(attn, v);
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx,
      torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &kt = saved[1], &v = saved[2];
    const at::Tensor& keep = saved[3];
    const double dropout_p = ctx->saved_data["dropout_p"].toDouble();
    const at::Tensor& grad = grads[0];
    const at::Tensor probs = at::softmax(BatchedMatmulNoGrad(q, kt), -1);
    const at::Tensor dropped =
        keep.defined() ? ApplyKeepMask(probs, keep, dropout_p) : probs;
    // out = dropped @ v.
    const at::Tensor grad_v =
        BatchedMatmulNoGrad(dropped.transpose(-2, -1), grad);
    at::Tensor grad_probs = BatchedMatmulNoGrad(grad, v.transpose(-2, -1));
    if (keep.defined()) ApplyKeepMaskInPlace(grad_probs, keep, dropout_p);
    const at::Tensor grad_scores =
        at::_softmax_backward_data(grad_probs, probs, -1, probs.scalar_type());
    // scores = q @ kt.
    const at::Tensor grad_q =
        BatchedMatmulNoGrad(grad_scores, kt.transpose(-2, -1));
    const at::Tensor grad_kt =
        BatchedMatmulNoGrad(q.transpose(-2, -1), grad_scores);
    return {grad_q, grad_kt, grad_v, at::Tensor()};
  }
};

// Where the node above is worth its recomputation: a CPU training step with
// an attention matrix of at least 1 MB (smaller ones cost more in the
// recomputed ops' overhead than their memory is worth).
bool UseAttentionNode(const at::Tensor& q, const at::Tensor& k,
                      const at::Tensor& v) {
  if (!torch::autograd::GradMode::is_enabled()) return false;
  if (!(q.requires_grad() || k.requires_grad() || v.requires_grad())) {
    return false;
  }
  if (!q.is_cpu() || q.scalar_type() != at::kFloat || q.dim() < 3 ||
      k.dim() != q.dim() || v.dim() != q.dim() || !HasBatchedMatmulKernel()) {
    return false;
  }
  const auto batch = q.sizes().slice(0, q.dim() - 2);
  if (batch != k.sizes().slice(0, k.dim() - 2) ||
      batch != v.sizes().slice(0, v.dim() - 2)) {
    return false;
  }
  return q.numel() / q.size(-1) * k.size(-2) >= (int64_t{1} << 18);
}

}  // namespace
#endif

at::Tensor ScaledDotProductAttention(const at::Tensor& q, const at::Tensor& k,
                                     const at::Tensor& v, double dropout_p) {
#if TORCH_VERSION_MAJOR >= 2
  if (q.dim() > 4) {
    // The fused kernels take [B, heads, L, E]: fold the other leading dims
    // (Hiera's runs of windows) into B.
    const auto four_d = [](const at::Tensor& t) {
      return t.reshape({-1, t.size(-3), t.size(-2), t.size(-1)});
    };
    std::vector<int64_t> shape(q.sizes().begin(), q.sizes().end());
    shape.back() = v.size(-1);
    return at::scaled_dot_product_attention(four_d(q), four_d(k), four_d(v),
                                            /*attn_mask=*/{}, dropout_p,
                                            /*is_causal=*/false)
        .reshape(shape);
  }
  return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, dropout_p,
                                          /*is_causal=*/false);
#else
  // Same op order as the reference's SDPA fallback on torch 1.13: scale q
  // first, then the product with k^T.
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  if (UseAttentionNode(q, k, v)) {
    return AttentionFunction::apply(q * scale, k.transpose(-2, -1), v,
                                    dropout_p);
  }
  // BatchedMatmul: at::matmul's numbers without its per-item dispatch.
  at::Tensor attn = BatchedMatmul(q * scale, k.transpose(-2, -1));
  attn = at::softmax(attn, -1);
  attn = Dropout(attn, dropout_p, /*train=*/true);
  return BatchedMatmul(attn, v);
#endif
}

at::Tensor Get1dSinePe(const at::Tensor& pos_inds, int64_t dim,
                       double temperature) {
  const int64_t pe_dim = dim / 2;
  at::Tensor dim_t = at::arange(
      pe_dim, at::TensorOptions().dtype(at::kFloat).device(pos_inds.device()));
  dim_t = at::pow(temperature, 2 * at::div(dim_t, 2, "floor") / pe_dim);
  at::Tensor pos_embed = pos_inds.unsqueeze(-1) / dim_t;
  return at::cat({pos_embed.sin(), pos_embed.cos()}, -1);
}

void CopyParametersAndBuffers(const torch::nn::Module& source,
                              torch::nn::Module& target) {
  at::NoGradGuard no_grad;
  auto copy_all = [](const torch::OrderedDict<std::string, at::Tensor>& from,
                     torch::OrderedDict<std::string, at::Tensor> to) {
    TORCH_CHECK(from.size() == to.size(),
                "CopyParametersAndBuffers: modules differ in structure");
    for (const auto& item : from) {
      at::Tensor* dst = to.find(item.key());
      TORCH_CHECK(dst != nullptr && dst->sizes() == item.value().sizes(),
                  "CopyParametersAndBuffers: no matching tensor for ",
                  item.key());
      dst->copy_(item.value());
    }
  };
  copy_all(source.named_parameters(), target.named_parameters());
  copy_all(source.named_buffers(), target.named_buffers());
}

CondFrameSelection SelectClosestCondFrames(
    int64_t frame_idx, const std::vector<int64_t>& cond_frame_idxs,
    int64_t max_cond_frame_num) {
  CondFrameSelection result;
  if (max_cond_frame_num == -1 ||
      static_cast<int64_t>(cond_frame_idxs.size()) <= max_cond_frame_num) {
    result.selected = cond_frame_idxs;
    return result;
  }
  TORCH_CHECK(max_cond_frame_num >= 2,
              "we should allow using 2+ conditioning frames");
  auto is_selected = [&result](int64_t t) {
    return std::find(result.selected.begin(), result.selected.end(), t) !=
           result.selected.end();
  };
  // The closest conditioning frame strictly before, then at-or-after.
  bool has_before = false, has_after = false;
  int64_t before = 0, after = 0;
  for (int64_t t : cond_frame_idxs) {
    if (t < frame_idx && (!has_before || t > before)) {
      before = t;
      has_before = true;
    }
    if (t >= frame_idx && (!has_after || t < after)) {
      after = t;
      has_after = true;
    }
  }
  if (has_before) result.selected.push_back(before);
  if (has_after) result.selected.push_back(after);

  // Fill up with the temporally closest remaining frames (stable on ties,
  // as Python's sorted()).
  std::vector<int64_t> remaining;
  for (int64_t t : cond_frame_idxs) {
    if (!is_selected(t)) remaining.push_back(t);
  }
  std::stable_sort(
      remaining.begin(), remaining.end(), [frame_idx](int64_t a, int64_t b) {
        return std::llabs(a - frame_idx) < std::llabs(b - frame_idx);
      });
  const int64_t num_remain =
      max_cond_frame_num - static_cast<int64_t>(result.selected.size());
  for (int64_t i = 0;
       i < num_remain && i < static_cast<int64_t>(remaining.size()); ++i) {
    result.selected.push_back(remaining[i]);
  }
  for (int64_t t : cond_frame_idxs) {
    if (!is_selected(t)) result.unselected.push_back(t);
  }
  return result;
}

// ---------------------------------------------------------------------------
MLPImpl::MLPImpl(const MLPOptions& options) : options_(options) {
  TORCH_CHECK(options_.num_layers >= 1, "MLP needs at least one layer");
  layers_ = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < options_.num_layers; ++i) {
    const int64_t in = i == 0 ? options_.input_dim : options_.hidden_dim;
    const int64_t out = i == options_.num_layers - 1 ? options_.output_dim
                                                     : options_.hidden_dim;
    torch::nn::Linear linear(torch::nn::LinearOptions(in, out));
    layers_->push_back(linear);
    linears_.push_back(linear);
  }
}

namespace {

// gelu(h) followed by a linear layer, as one autograd node that keeps h
// only: op by op, autograd keeps both h (for GELU's backward) and gelu(h)
// (for the layer's), each four times the width of the block in Hiera's MLPs.
// The backward pass recomputes gelu(h), one elementwise pass. Values are
// bitwise those of the two ops.
class GeluLinearFunction
    : public torch::autograd::Function<GeluLinearFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx,
                            const at::Tensor& h, const at::Tensor& weight,
                            const at::Tensor& bias) {
    ctx->save_for_backward({h, weight});
    return at::linear(at::gelu(h), weight, bias);
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx,
      torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& h = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor grad = grads[0].reshape({-1, weight.size(0)});
    at::Tensor grad_h, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      grad_h = at::gelu_backward(grad.mm(weight).view(h.sizes()), h);
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = grad.t().mm(at::gelu(h).reshape({-1, h.size(-1)}));
    }
    if (ctx->needs_input_grad(2)) grad_bias = grad.sum(0);
    return {grad_h, grad_weight, grad_bias};
  }
};

}  // namespace

at::Tensor MLPImpl::forward(const at::Tensor& x) { return forward_from(0, x); }

at::Tensor MLPImpl::forward_from(size_t first, at::Tensor out) {
  // CPU training: each GELU and the layer after it as one node (above). On
  // CUDA the ops stay separate, with autocast's precision per op.
  const bool fuse_gelu = options_.activation == Activation::kGelu &&
                         out.is_cpu() &&
                         torch::autograd::GradMode::is_enabled();
  for (size_t i = first; i < linears_.size(); ++i) {
    const bool after_activation = i > 0;
    if (fuse_gelu && after_activation && linears_[i]->bias.defined()) {
      out = GeluLinearFunction::apply(out, linears_[i]->weight,
                                      linears_[i]->bias);
    } else {
      if (after_activation) out = ApplyActivation(options_.activation, out);
      out = ApplyLinear(linears_[i], out);
    }
  }
  if (options_.sigmoid_output) out = at::sigmoid(out);
  return out;
}

// ---------------------------------------------------------------------------
LayerNorm2dImpl::LayerNorm2dImpl(const LayerNorm2dOptions& options)
    : options_(options) {
  weight = register_parameter("weight", at::ones({options_.num_channels}));
  bias = register_parameter("bias", at::zeros({options_.num_channels}));
}

namespace {

// The input gradient and the per-image weight and bias gradients of
// LayerNorm2d in two passes over each image (CPU float, contiguous [N, C, H,
// W]): the per-pixel channel means of g = grad * weight and g * normed,
// then dx = (g - mean(g) - normed * mean(g * normed)) / sigma.
void LayerNorm2dBackwardCpu(const at::Tensor& grad, const at::Tensor& normed,
                            const at::Tensor& sigma, const at::Tensor& weight,
                            at::Tensor& grad_x, at::Tensor& grad_weight,
                            at::Tensor& grad_bias) {
  const int64_t n = grad.size(0), c = grad.size(1);
  const int64_t pixels = grad.size(2) * grad.size(3);
  grad_x = at::empty_like(grad);
  const float* g = grad.data_ptr<float>();
  const float* y = normed.data_ptr<float>();
  const float* s = sigma.data_ptr<float>();
  const float* w = weight.data_ptr<float>();
  float* dx = grad_x.data_ptr<float>();
  std::vector<double> dw(n * c), db(n * c);
  const float inv_c = 1.0f / static_cast<float>(c);
  at::parallel_for(0, n, 1, [&](int64_t first, int64_t last) {
    std::vector<float> mean_g(pixels), mean_gy(pixels);
    for (int64_t b = first; b < last; ++b) {
      std::fill(mean_g.begin(), mean_g.end(), 0.0f);
      std::fill(mean_gy.begin(), mean_gy.end(), 0.0f);
      for (int64_t ch = 0; ch < c; ++ch) {
        const float* gc = g + (b * c + ch) * pixels;
        const float* yc = y + (b * c + ch) * pixels;
        const float wc = w[ch];
        double sum_gy = 0, sum_g = 0;
        for (int64_t p = 0; p < pixels; ++p) {
          const float gw = gc[p] * wc;
          mean_g[p] += gw;
          mean_gy[p] += gw * yc[p];
          sum_gy += gc[p] * yc[p];
          sum_g += gc[p];
        }
        dw[b * c + ch] = sum_gy;
        db[b * c + ch] = sum_g;
      }
      const float* sb = s + b * pixels;
      for (int64_t ch = 0; ch < c; ++ch) {
        const float* gc = g + (b * c + ch) * pixels;
        const float* yc = y + (b * c + ch) * pixels;
        float* out = dx + (b * c + ch) * pixels;
        const float wc = w[ch];
        for (int64_t p = 0; p < pixels; ++p) {
          out[p] =
              (gc[p] * wc - mean_g[p] * inv_c - yc[p] * (mean_gy[p] * inv_c)) /
              sb[p];
        }
      }
    }
  });
  grad_weight = at::zeros({c}, weight.options());
  grad_bias = at::zeros({c}, weight.options());
  float* gw = grad_weight.data_ptr<float>();
  float* gb = grad_bias.data_ptr<float>();
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum_w = 0, sum_b = 0;
    for (int64_t b = 0; b < n; ++b) {
      sum_w += dw[b * c + ch];
      sum_b += db[b * c + ch];
    }
    gw[ch] = static_cast<float>(sum_w);
    gb[ch] = static_cast<float>(sum_b);
  }
}

// LayerNorm2d's arithmetic as the reference writes it, op for op (so the
// values are bitwise those of the plain version below), as one autograd node
// with the closed-form backward of a layer norm over the channels. Recorded
// op by op it keeps five full-size intermediates for the backward pass; this
// node keeps the normalised input and the per-pixel deviation.
class LayerNorm2dFunction
    : public torch::autograd::Function<LayerNorm2dFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx,
                            const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, double eps) {
    using at::indexing::None;
    using at::indexing::Slice;
    const at::Tensor u = x.mean(1, /*keepdim=*/true);
    const at::Tensor s = (x - u).pow(2).mean(1, /*keepdim=*/true);
    const at::Tensor sigma = at::sqrt(s + eps);
    const at::Tensor normed = (x - u) / sigma;
    ctx->save_for_backward({normed, sigma, weight});
    return weight.index({Slice(), None, None}) * normed +
           bias.index({Slice(), None, None});
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx,
      torch::autograd::variable_list grads) {
    using at::indexing::None;
    using at::indexing::Slice;
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& normed = saved[0];
    const at::Tensor& sigma = saved[1];
    const at::Tensor& grad = grads[0];
    at::Tensor grad_x, grad_weight, grad_bias;
    if (grad.scalar_type() == at::kFloat &&
        normed.scalar_type() == at::kFloat &&
        saved[2].scalar_type() == at::kFloat && normed.is_contiguous() &&
        sigma.is_contiguous() && saved[2].is_contiguous()) {
      LayerNorm2dBackwardCpu(grad.contiguous(), normed, sigma, saved[2], grad_x,
                             grad_weight, grad_bias);
      return {grad_x, grad_weight, grad_bias, at::Tensor()};
    }
    if (ctx->needs_input_grad(0)) {
      const at::Tensor g = grad * saved[2].index({Slice(), None, None});
      grad_x = (g - g.mean(1, /*keepdim=*/true) -
                normed * (g * normed).mean(1, /*keepdim=*/true)) /
               sigma;
    }
    if (ctx->needs_input_grad(1)) grad_weight = (grad * normed).sum({0, 2, 3});
    if (ctx->needs_input_grad(2)) grad_bias = grad.sum({0, 2, 3});
    return {grad_x, grad_weight, grad_bias, at::Tensor()};
  }
};

}  // namespace

at::Tensor LayerNorm2dImpl::forward(const at::Tensor& x) {
  const bool needs_grad =
      torch::autograd::GradMode::is_enabled() &&
      (x.requires_grad() || weight.requires_grad() || bias.requires_grad());
  if (needs_grad && x.is_cpu() && x.dim() == 4) {
    // On CUDA the ops below stay as they are: their precision under bf16
    // autocast is the reference's, and memory is not the CPU's bottleneck.
    return LayerNorm2dFunction::apply(x, weight, bias, options_.eps);
  }
  at::Tensor u = x.mean(1, /*keepdim=*/true);
  at::Tensor s = (x - u).pow(2).mean(1, /*keepdim=*/true);
  at::Tensor normed = (x - u) / at::sqrt(s + options_.eps);
  using at::indexing::None;
  using at::indexing::Slice;
  return weight.index({Slice(), None, None}) * normed +
         bias.index({Slice(), None, None});
}

// ---------------------------------------------------------------------------
DropPathImpl::DropPathImpl(const DropPathOptions& options)
    : options_(options) {}

at::Tensor DropPathImpl::forward(const at::Tensor& x) {
  if (options_.drop_prob == 0.0 || !is_training()) return x;
  const double keep_prob = 1.0 - options_.drop_prob;
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  at::Tensor random_tensor =
      at::empty(shape, x.options()).bernoulli_(keep_prob);
  if (keep_prob > 0.0 && options_.scale_by_keep) random_tensor.div_(keep_prob);
  return x * random_tensor;
}

}  // namespace sam2::modeling
