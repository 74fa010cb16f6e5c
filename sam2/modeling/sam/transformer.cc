#include "sam2/modeling/sam/transformer.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>

#include "sam2/modeling/position_encoding.h"
#include "sam2/modeling/sam2_utils.h"

namespace sam2::modeling {

namespace {

torch::nn::LayerNorm MakeLayerNorm(int64_t dim) {
  // nn.LayerNorm defaults: eps 1e-5, affine.
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5));
}

}  // namespace

// ---------------------------------------------------------------------------
AttentionImpl::AttentionImpl(const AttentionOptions& options)
    : options_(options) {
  TORCH_CHECK(options_.embedding_dim > 0 && options_.num_heads > 0 &&
                  options_.downsample_rate > 0,
              "Attention needs positive embedding_dim, num_heads and "
              "downsample_rate");
  kv_in_dim_ = options_.kv_in_dim.value_or(options_.embedding_dim);
  internal_dim_ = options_.embedding_dim / options_.downsample_rate;
  TORCH_CHECK(internal_dim_ % options_.num_heads == 0,
              "num_heads must divide embedding_dim.");
  q_proj = register_module(
      "q_proj", torch::nn::Linear(options_.embedding_dim, internal_dim_));
  k_proj =
      register_module("k_proj", torch::nn::Linear(kv_in_dim_, internal_dim_));
  v_proj =
      register_module("v_proj", torch::nn::Linear(kv_in_dim_, internal_dim_));
  out_proj = register_module(
      "out_proj", torch::nn::Linear(internal_dim_, options_.embedding_dim));
}

at::Tensor AttentionImpl::separate_heads(const at::Tensor& x) const {
  const int64_t b = x.size(0), n = x.size(1), c = x.size(2);
  return x.reshape({b, n, options_.num_heads, c / options_.num_heads})
      .transpose(1, 2);
}

at::Tensor AttentionImpl::recombine_heads(const at::Tensor& x) const {
  const int64_t b = x.size(0), n_heads = x.size(1), n_tokens = x.size(2),
                c_per_head = x.size(3);
  return x.transpose(1, 2).reshape({b, n_tokens, n_heads * c_per_head});
}

at::Tensor AttentionImpl::attend(const at::Tensor& q, const at::Tensor& k,
                                 const at::Tensor& v) const {
  const double dropout_p = is_training() ? options_.dropout : 0.0;
  return ScaledDotProductAttention(q, k, v, dropout_p);
}

at::Tensor AttentionImpl::forward(const at::Tensor& q, const at::Tensor& k,
                                  const at::Tensor& v) {
  at::Tensor qh = separate_heads(ApplyLinear(q_proj, q));
  at::Tensor kh = separate_heads(ApplyLinear(k_proj, k));
  at::Tensor vh = separate_heads(ApplyLinear(v_proj, v));
  at::Tensor out = attend(qh, kh, vh);
  return ApplyLinear(out_proj, recombine_heads(out));
}

// ---------------------------------------------------------------------------
RoPEAttentionImpl::RoPEAttentionImpl(const RoPEAttentionOptions& options)
    : AttentionImpl(options), rope_options_(options) {
  freqs_cis_ = ComputeAxialCis(
      internal_dim_ / options_.num_heads, rope_options_.feat_sizes[0],
      rope_options_.feat_sizes[1], rope_options_.rope_theta);
}

at::Tensor RoPEAttentionImpl::forward(const at::Tensor& q, const at::Tensor& k,
                                      const at::Tensor& v,
                                      int64_t num_k_exclude_rope) {
  at::Tensor qh = separate_heads(ApplyLinear(q_proj, q));
  at::Tensor kh = separate_heads(ApplyLinear(k_proj, k));
  at::Tensor vh = separate_heads(ApplyLinear(v_proj, v));

  const int64_t num_q = qh.size(-2);
  if (freqs_cis_.device() != qh.device())
    freqs_cis_ = freqs_cis_.to(qh.device());
  if (freqs_cis_.size(0) != num_q) {
    // The reference assumes a square grid of queries here.
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(num_q)));
    TORCH_CHECK(side * side == num_q,
                "RoPEAttention: cannot infer a square feature map from ", num_q,
                " queries");
    freqs_cis_ = ComputeAxialCis(internal_dim_ / options_.num_heads, side, side,
                                 rope_options_.rope_theta)
                     .to(qh.device());
  }
  if (num_q != kh.size(-2)) {
    TORCH_CHECK(rope_options_.rope_k_repeat,
                "RoPEAttention: queries and keys differ in length; needs "
                "rope_k_repeat");
  }
  TORCH_CHECK(num_k_exclude_rope >= 0 && num_k_exclude_rope <= kh.size(-2),
              "num_k_exclude_rope out of range");

  const int64_t num_k_rope = kh.size(-2) - num_k_exclude_rope;
  auto [q_rot, k_rot] = ApplyRotaryEnc(qh, kh.narrow(2, 0, num_k_rope),
                                       freqs_cis_, rope_options_.rope_k_repeat);
  // The reference assigns into k[:, :, :num_k_rope] in place; concatenating
  // the untouched tail gives the same values and gradients.
  if (num_k_exclude_rope > 0) {
    k_rot = at::cat({k_rot, kh.narrow(2, num_k_rope, num_k_exclude_rope)}, 2);
  }
  at::Tensor out = attend(q_rot, k_rot, vh);
  return ApplyLinear(out_proj, recombine_heads(out));
}

// ---------------------------------------------------------------------------
TwoWayAttentionBlockImpl::TwoWayAttentionBlockImpl(
    const TwoWayAttentionBlockOptions& options)
    : options_(options) {
  const int64_t dim = options_.embedding_dim;
  self_attn = register_module(
      "self_attn", Attention(AttentionOptions(dim, options_.num_heads)));
  norm1 = register_module("norm1", MakeLayerNorm(dim));

  AttentionOptions cross(dim, options_.num_heads);
  cross.downsample_rate = options_.attention_downsample_rate;
  cross_attn_token_to_image =
      register_module("cross_attn_token_to_image", Attention(cross));
  norm2 = register_module("norm2", MakeLayerNorm(dim));

  MLPOptions mlp_options(dim, options_.mlp_dim, dim, /*num_layers=*/2);
  mlp_options.activation = options_.activation;
  mlp = register_module("mlp", MLP(mlp_options));
  norm3 = register_module("norm3", MakeLayerNorm(dim));

  norm4 = register_module("norm4", MakeLayerNorm(dim));
  cross_attn_image_to_token =
      register_module("cross_attn_image_to_token", Attention(cross));
}

std::pair<at::Tensor, at::Tensor> TwoWayAttentionBlockImpl::forward(
    const at::Tensor& queries_in, const at::Tensor& keys_in,
    const at::Tensor& query_pe, const at::Tensor& key_pe) {
  at::Tensor queries = queries_in;
  at::Tensor keys = keys_in;

  // Self-attention of the tokens (the first layer has no PE and no residual).
  if (options_.skip_first_layer_pe) {
    queries = self_attn->forward(queries, queries, queries);
  } else {
    at::Tensor q = queries + query_pe;
    queries = queries + self_attn->forward(q, q, queries);
  }
  queries = norm1->forward(queries);

  // Tokens attend to the image.
  at::Tensor q = queries + query_pe;
  at::Tensor k = keys + key_pe;
  queries = queries + cross_attn_token_to_image->forward(q, k, keys);
  queries = norm2->forward(queries);

  queries = queries + mlp->forward(queries);
  queries = norm3->forward(queries);

  // The image attends to the tokens.
  q = queries + query_pe;
  k = keys + key_pe;
  keys = keys + cross_attn_image_to_token->forward(k, q, queries);
  keys = norm4->forward(keys);
  return {queries, keys};
}

// ---------------------------------------------------------------------------
TwoWayTransformerImpl::TwoWayTransformerImpl(
    const TwoWayTransformerOptions& options)
    : options_(options) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < options_.depth; ++i) {
    TwoWayAttentionBlockOptions block(options_.embedding_dim,
                                      options_.num_heads);
    block.mlp_dim = options_.mlp_dim;
    block.activation = options_.activation;
    block.attention_downsample_rate = options_.attention_downsample_rate;
    block.skip_first_layer_pe = i == 0;
    TwoWayAttentionBlock layer(block);
    layers->push_back(layer);
    blocks_.push_back(layer);
  }
  AttentionOptions final_attn(options_.embedding_dim, options_.num_heads);
  final_attn.downsample_rate = options_.attention_downsample_rate;
  final_attn_token_to_image =
      register_module("final_attn_token_to_image", Attention(final_attn));
  norm_final_attn =
      register_module("norm_final_attn", MakeLayerNorm(options_.embedding_dim));
}

std::pair<at::Tensor, at::Tensor> TwoWayTransformerImpl::forward(
    const at::Tensor& image_embedding, const at::Tensor& image_pe,
    const at::Tensor& point_embedding) {
  // B x C x H x W -> B x HW x C, laid out contiguously. Differs from the
  // reference on purpose, in rounding only: its permuted keys make at::linear
  // multiply per image with the weight expanded (at::matmul does not fold a
  // transposed 3-D input), with more operators and autograd nodes a call;
  // here each projection is one product (and one autograd node, ApplyLinear).
  at::Tensor keys = image_embedding.flatten(2).transpose(1, 2).contiguous();
  at::Tensor key_pe = image_pe.flatten(2).transpose(1, 2).contiguous();
  at::Tensor queries = point_embedding;

  for (auto& block : blocks_) {
    std::tie(queries, keys) =
        block->forward(queries, keys, point_embedding, key_pe);
  }

  at::Tensor q = queries + point_embedding;
  at::Tensor k = keys + key_pe;
  queries = queries + final_attn_token_to_image->forward(q, k, keys);
  queries = norm_final_attn->forward(queries);
  return {queries, keys};
}

}  // namespace sam2::modeling
