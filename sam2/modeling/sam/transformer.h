// SAM's two-way transformer and the attention layers shared with memory
// attention (port of the reference sam2/modeling/sam/transformer.py).
//
// Parameter names mirror the reference: q_proj / k_proj / v_proj / out_proj
// in every attention, layers.<i>.{self_attn, norm1, cross_attn_token_to_image,
// norm2, mlp, norm3, norm4, cross_attn_image_to_token} in the two-way
// transformer, then final_attn_token_to_image and norm_final_attn.
#ifndef SAM2_MODELING_SAM_TRANSFORMER_H_
#define SAM2_MODELING_SAM_TRANSFORMER_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "sam2/modeling/sam2_utils.h"

namespace sam2::modeling {

// ---------------------------------------------------------------------------
// Multi-head attention whose q/k/v are projected to
// embedding_dim / downsample_rate channels (keys and values come in with
// kv_in_dim channels), then back to embedding_dim.
struct AttentionOptions {
  AttentionOptions() = default;
  AttentionOptions(int64_t embedding_dim, int64_t num_heads)
      : embedding_dim(embedding_dim), num_heads(num_heads) {}

  int64_t embedding_dim = 0;
  int64_t num_heads = 0;
  int64_t downsample_rate = 1;
  double dropout = 0.0;  // on the attention weights, training mode only
  std::optional<int64_t> kv_in_dim;  // unset -> embedding_dim
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const AttentionOptions& options);

  // q [B, Nq, embedding_dim], k and v [B, Nk, kv_in_dim] -> [B, Nq,
  // embedding_dim].
  at::Tensor forward(const at::Tensor& q, const at::Tensor& k,
                     const at::Tensor& v);

  const AttentionOptions& options() const { return options_; }
  int64_t internal_dim() const { return internal_dim_; }
  int64_t kv_in_dim() const { return kv_in_dim_; }

  torch::nn::Linear q_proj{nullptr};
  torch::nn::Linear k_proj{nullptr};
  torch::nn::Linear v_proj{nullptr};
  torch::nn::Linear out_proj{nullptr};

 protected:
  // [B, N, C] -> [B, heads, N, C / heads] and back.
  at::Tensor separate_heads(const at::Tensor& x) const;
  at::Tensor recombine_heads(const at::Tensor& x) const;
  // Attention on separated heads with the dropout of the current mode.
  at::Tensor attend(const at::Tensor& q, const at::Tensor& k,
                    const at::Tensor& v) const;

  AttentionOptions options_;
  int64_t internal_dim_ = 0;
  int64_t kv_in_dim_ = 0;
};
TORCH_MODULE(Attention);

// ---------------------------------------------------------------------------
// Attention with axial rotary position encoding on q and k.
struct RoPEAttentionOptions : AttentionOptions {
  RoPEAttentionOptions() = default;
  RoPEAttentionOptions(int64_t embedding_dim, int64_t num_heads)
      : AttentionOptions(embedding_dim, num_heads) {}

  double rope_theta = 10000.0;
  // Tile the query frequencies to the key length (cross-attention to
  // memories spanning several frames).
  bool rope_k_repeat = false;
  // [w, h] of the feature map: 64x64 for stride-16 features at 1024 px.
  std::array<int64_t, 2> feat_sizes = {64, 64};
};

class RoPEAttentionImpl : public AttentionImpl {
 public:
  explicit RoPEAttentionImpl(const RoPEAttentionOptions& options);

  // As Attention::forward; the last `num_k_exclude_rope` keys (object
  // pointers) are not rotated. Queries must form a square grid; when its size
  // differs from feat_sizes the frequencies are recomputed (and kept).
  at::Tensor forward(const at::Tensor& q, const at::Tensor& k,
                     const at::Tensor& v, int64_t num_k_exclude_rope = 0);

  const RoPEAttentionOptions& rope_options() const { return rope_options_; }
  // Current frequencies, [N, head_dim / 2, 2] (cos, sin). Not a buffer: the
  // reference keeps it out of the state_dict.
  const at::Tensor& freqs_cis() const { return freqs_cis_; }

 private:
  RoPEAttentionOptions rope_options_;
  at::Tensor freqs_cis_;
};
TORCH_MODULE(RoPEAttention);

// ---------------------------------------------------------------------------
// One block of the two-way transformer: self-attention of the tokens, tokens
// to image, MLP on the tokens, image to tokens.
struct TwoWayAttentionBlockOptions {
  TwoWayAttentionBlockOptions() = default;
  TwoWayAttentionBlockOptions(int64_t embedding_dim, int64_t num_heads)
      : embedding_dim(embedding_dim), num_heads(num_heads) {}

  int64_t embedding_dim = 0;
  int64_t num_heads = 0;
  int64_t mlp_dim = 2048;
  Activation activation = Activation::kRelu;
  int64_t attention_downsample_rate = 2;
  bool skip_first_layer_pe = false;
};

class TwoWayAttentionBlockImpl : public torch::nn::Module {
 public:
  explicit TwoWayAttentionBlockImpl(const TwoWayAttentionBlockOptions& options);

  // Returns the updated (queries, keys).
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& queries,
                                            const at::Tensor& keys,
                                            const at::Tensor& query_pe,
                                            const at::Tensor& key_pe);

  const TwoWayAttentionBlockOptions& options() const { return options_; }

  Attention self_attn{nullptr};
  torch::nn::LayerNorm norm1{nullptr};
  Attention cross_attn_token_to_image{nullptr};
  torch::nn::LayerNorm norm2{nullptr};
  MLP mlp{nullptr};
  torch::nn::LayerNorm norm3{nullptr};
  torch::nn::LayerNorm norm4{nullptr};
  Attention cross_attn_image_to_token{nullptr};

 private:
  TwoWayAttentionBlockOptions options_;
};
TORCH_MODULE(TwoWayAttentionBlock);

// ---------------------------------------------------------------------------
struct TwoWayTransformerOptions {
  TwoWayTransformerOptions() = default;
  TwoWayTransformerOptions(int64_t depth, int64_t embedding_dim,
                           int64_t num_heads, int64_t mlp_dim)
      : depth(depth),
        embedding_dim(embedding_dim),
        num_heads(num_heads),
        mlp_dim(mlp_dim) {}

  int64_t depth = 0;
  int64_t embedding_dim = 0;
  int64_t num_heads = 0;
  int64_t mlp_dim = 0;
  Activation activation = Activation::kRelu;
  int64_t attention_downsample_rate = 2;
};

class TwoWayTransformerImpl : public torch::nn::Module {
 public:
  explicit TwoWayTransformerImpl(const TwoWayTransformerOptions& options);

  // image_embedding, image_pe [B, C, H, W]; point_embedding [B, N, C].
  // Returns (queries [B, N, C], keys [B, H*W, C]).
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& image_embedding,
                                            const at::Tensor& image_pe,
                                            const at::Tensor& point_embedding);

  const TwoWayTransformerOptions& options() const { return options_; }

  torch::nn::ModuleList layers{nullptr};  // of TwoWayAttentionBlock
  Attention final_attn_token_to_image{nullptr};
  torch::nn::LayerNorm norm_final_attn{nullptr};

 private:
  TwoWayTransformerOptions options_;
  std::vector<TwoWayAttentionBlock> blocks_;  // the modules in `layers`
};
TORCH_MODULE(TwoWayTransformer);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_SAM_TRANSFORMER_H_
