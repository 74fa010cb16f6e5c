#include "sam2/modeling/memory_attention.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "sam2/modeling/dropout.h"
#include "sam2/modeling/sam2_utils.h"

namespace sam2::modeling {
namespace {

// linear(dropout(relu(h))) in CPU training as one autograd node: keeps h and
// the dropout's keep mask as bytes, where the ops one by one keep the ReLU's
// output, the dropout's float noise and the dropped values (three tensors of
// h's size). Values bitwise those of the ops (the same keep mask and
// arithmetic as Dropout); gradients autograd's formulas, recomputing the
// dropped values.
class ReluDropoutLinearFunction
    : public torch::autograd::Function<ReluDropoutLinearFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx,
                            const at::Tensor& h, const at::Tensor& weight,
                            const at::Tensor& bias, double dropout_p) {
    at::Tensor dropped = at::relu(h);
    at::Tensor keep;
    if (dropout_p > 0.0) {
      keep = DropoutKeepMask(dropped, dropout_p);
      ApplyKeepMaskInPlace(dropped, keep, dropout_p);
    }
    ctx->save_for_backward({h, keep, weight});
    ctx->saved_data["dropout_p"] = dropout_p;
    return at::linear(dropped, weight, bias);
  }

  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx,
      torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &h = saved[0], &keep = saved[1], &weight = saved[2];
    const double dropout_p = ctx->saved_data["dropout_p"].toDouble();
    const at::Tensor grad = grads[0].reshape({-1, weight.size(0)});
    const at::Tensor relu = at::relu(h);
    const at::Tensor dropped =
        keep.defined() ? ApplyKeepMask(relu, keep, dropout_p) : relu;
    at::Tensor grad_h, grad_weight, grad_bias;
    if (ctx->needs_input_grad(0)) {
      at::Tensor grad_dropped = grad.mm(weight).view(h.sizes());
      if (keep.defined()) ApplyKeepMaskInPlace(grad_dropped, keep, dropout_p);
      grad_h = at::threshold_backward(grad_dropped, relu, 0);
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = grad.t().mm(dropped.reshape({-1, h.size(-1)}));
    }
    if (ctx->needs_input_grad(2)) grad_bias = grad.sum(0);
    return {grad_h, grad_weight, grad_bias, at::Tensor()};
  }
};

}  // namespace

at::Tensor ReluDropoutLinear(const at::Tensor& h,
                             const torch::nn::Linear& linear,
                             double dropout_p) {
  if (h.is_cpu() && torch::autograd::GradMode::is_enabled() &&
      linear->bias.defined() && dropout_p < 1.0) {
    return ReluDropoutLinearFunction::apply(h, linear->weight, linear->bias,
                                            dropout_p);
  }
  return ApplyLinear(linear, Dropout(at::relu(h), dropout_p, true));
}

MemoryAttentionLayerOptions::MemoryAttentionLayerOptions() {
  // The reference class has no defaults; these are the official configs'.
  for (MemoryAttentionAttentionOptions* a :
       {&self_attention, &cross_attention}) {
    a->use_rope = true;
    a->rope.embedding_dim = 256;
    a->rope.num_heads = 1;
    a->rope.downsample_rate = 1;
    a->rope.dropout = 0.1;
    a->rope.rope_theta = 10000.0;
    a->rope.feat_sizes = {64, 64};
  }
  cross_attention.rope.rope_k_repeat = true;
  cross_attention.rope.kv_in_dim = 64;
}

namespace {

std::shared_ptr<AttentionImpl> MakeAttention(
    const MemoryAttentionAttentionOptions& options) {
  if (options.use_rope) {
    return std::make_shared<RoPEAttentionImpl>(options.rope);
  }
  return std::make_shared<AttentionImpl>(
      static_cast<const AttentionOptions&>(options.rope));
}

at::Tensor Attend(AttentionImpl& attention, bool use_rope, const at::Tensor& q,
                  const at::Tensor& k, const at::Tensor& v,
                  int64_t num_k_exclude_rope) {
  if (use_rope) {
    return static_cast<RoPEAttentionImpl&>(attention).forward(
        q, k, v, num_k_exclude_rope);
  }
  TORCH_CHECK(num_k_exclude_rope == 0,
              "keys excluded from RoPE need a RoPEAttention");
  return attention.forward(q, k, v);
}

// The registered nn::Dropout modules give the structure and the probability;
// the draws are Dropout's (sam2/modeling/dropout.h).
at::Tensor ApplyDropout(const torch::nn::DropoutImpl& dropout,
                        const at::Tensor& x) {
  return Dropout(x, dropout.options.p(), dropout.is_training());
}

}  // namespace

MemoryAttentionLayerImpl::MemoryAttentionLayerImpl(
    const MemoryAttentionLayerOptions& options)
    : options_(options) {
  const int64_t d = options.d_model;
  self_attn =
      register_module("self_attn", MakeAttention(options.self_attention));
  cross_attn_image = register_module("cross_attn_image",
                                     MakeAttention(options.cross_attention));
  linear1 =
      register_module("linear1", torch::nn::Linear(d, options.dim_feedforward));
  dropout = register_module("dropout", torch::nn::Dropout(options.dropout));
  linear2 =
      register_module("linear2", torch::nn::Linear(options.dim_feedforward, d));
  const auto norm_options = torch::nn::LayerNormOptions({d});
  norm1 = register_module("norm1", torch::nn::LayerNorm(norm_options));
  norm2 = register_module("norm2", torch::nn::LayerNorm(norm_options));
  norm3 = register_module("norm3", torch::nn::LayerNorm(norm_options));
  dropout1 = register_module("dropout1", torch::nn::Dropout(options.dropout));
  dropout2 = register_module("dropout2", torch::nn::Dropout(options.dropout));
  dropout3 = register_module("dropout3", torch::nn::Dropout(options.dropout));
}

at::Tensor MemoryAttentionLayerImpl::ForwardSelfAttention(
    const at::Tensor& tgt, const at::Tensor& query_pos) {
  const at::Tensor tgt2 = norm1->forward(tgt);
  const at::Tensor qk = options_.pos_enc_at_attn ? tgt2 + query_pos : tgt2;
  const at::Tensor attended =
      Attend(*self_attn, options_.self_attention.use_rope, qk, qk, tgt2, 0);
  return tgt + ApplyDropout(*dropout1, attended);
}

at::Tensor MemoryAttentionLayerImpl::ForwardCrossAttention(
    const at::Tensor& tgt, const at::Tensor& memory,
    const at::Tensor& query_pos, const at::Tensor& pos,
    int64_t num_k_exclude_rope) {
  const at::Tensor tgt2 = norm2->forward(tgt);
  const at::Tensor q =
      options_.pos_enc_at_cross_attn_queries ? tgt2 + query_pos : tgt2;
  const at::Tensor k =
      options_.pos_enc_at_cross_attn_keys ? memory + pos : memory;
  const at::Tensor attended =
      Attend(*cross_attn_image, options_.cross_attention.use_rope, q, k, memory,
             num_k_exclude_rope);
  return tgt + ApplyDropout(*dropout2, attended);
}

at::Tensor MemoryAttentionLayerImpl::forward(const at::Tensor& tgt,
                                             const at::Tensor& memory,
                                             const at::Tensor& pos,
                                             const at::Tensor& query_pos,
                                             int64_t num_k_exclude_rope) {
  at::Tensor out = ForwardSelfAttention(tgt, query_pos);
  out = ForwardCrossAttention(out, memory, query_pos, pos, num_k_exclude_rope);
  at::Tensor ff = ApplyLinear(linear1, norm3->forward(out));
  if (options_.activation == Activation::kRelu) {
    ff = ReluDropoutLinear(ff, linear2,
                           dropout->is_training() ? dropout->options.p() : 0.0);
  } else {
    ff = ApplyLinear(
        linear2,
        ApplyDropout(*dropout, ApplyActivation(options_.activation, ff)));
  }
  return out + ApplyDropout(*dropout3, ff);
}

MemoryAttentionImpl::MemoryAttentionImpl(const MemoryAttentionOptions& options)
    : options_(options) {
  layers = torch::nn::ModuleList();
  for (int64_t i = 0; i < options.num_layers; ++i) {
    layer_modules_.push_back(MemoryAttentionLayer(options.layer));
    layers->push_back(layer_modules_.back());
  }
  register_module("layers", layers);
  norm = register_module(
      "norm",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({options.d_model})));
}

at::Tensor MemoryAttentionImpl::forward(const at::Tensor& curr,
                                        const at::Tensor& memory,
                                        const at::Tensor& curr_pos,
                                        const at::Tensor& memory_pos,
                                        int64_t num_obj_ptr_tokens) {
  TORCH_CHECK(curr.size(1) == memory.size(1),
              "Batch size must be the same for curr and memory");
  at::Tensor output = curr;
  if (options_.pos_enc_at_input && curr_pos.defined()) {
    output = output + 0.1 * curr_pos;
  }
  at::Tensor query_pos = curr_pos;
  at::Tensor mem = memory;
  at::Tensor mem_pos = memory_pos;
  if (options_.batch_first) {
    output = output.transpose(0, 1);
    if (query_pos.defined()) query_pos = query_pos.transpose(0, 1);
    mem = mem.transpose(0, 1);
    if (mem_pos.defined()) mem_pos = mem_pos.transpose(0, 1);
  }
  for (MemoryAttentionLayer& layer : layer_modules_) {
    // The reference passes the object pointer count only to RoPE cross
    // attention (plain attention rotates nothing).
    const int64_t exclude =
        layer->cross_attention_uses_rope() ? num_obj_ptr_tokens : 0;
    output = layer->forward(output, mem, mem_pos, query_pos, exclude);
  }
  at::Tensor normed = norm->forward(output);
  if (options_.batch_first) normed = normed.transpose(0, 1);
  return normed;
}

}  // namespace sam2::modeling
