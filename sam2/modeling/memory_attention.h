// Memory attention of SAM 2 (port of the reference
// sam2/modeling/memory_attention.py): the current frame's features attend to
// themselves and then to the memory bank (spatial memories of earlier frames
// and object pointers).
//
// Parameter names mirror the reference: layers.<i>.{self_attn,
// cross_attn_image, linear1, linear2, norm1, norm2, norm3}.*, norm.*.
#ifndef SAM2_MODELING_MEMORY_ATTENTION_H_
#define SAM2_MODELING_MEMORY_ATTENTION_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "sam2/modeling/sam/transformer.h"
#include "sam2/modeling/sam2_utils.h"

namespace sam2::modeling {

// linear(dropout(relu(h), p)) (p = 0: no dropout), the memory attention
// layer's feed-forward tail. In CPU training one autograd node that keeps h
// and the dropout mask as bytes instead of three tensors of h's size; the
// same values (the same random draws as at::dropout) and gradients to float
// rounding. Elsewhere the ops one by one.
at::Tensor ReluDropoutLinear(const at::Tensor& h,
                             const torch::nn::Linear& linear,
                             double dropout_p);

// Which attention class a MemoryAttentionLayer uses (the reference takes a
// module; every official config uses RoPEAttention for both).
struct MemoryAttentionAttentionOptions {
  bool use_rope = true;       // RoPEAttention; false: plain Attention
  RoPEAttentionOptions rope;  // also holds the plain Attention's options
};

struct MemoryAttentionLayerOptions {
  MemoryAttentionLayerOptions();

  Activation activation = Activation::kRelu;
  MemoryAttentionAttentionOptions cross_attention;
  int64_t d_model = 256;
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  bool pos_enc_at_attn = false;
  bool pos_enc_at_cross_attn_keys = true;
  bool pos_enc_at_cross_attn_queries = false;
  MemoryAttentionAttentionOptions self_attention;
};

class MemoryAttentionLayerImpl : public torch::nn::Module {
 public:
  explicit MemoryAttentionLayerImpl(const MemoryAttentionLayerOptions& options);

  // Batch-first: tgt [B, Nq, d_model], memory [B, Nk, kv_dim], pos like
  // memory, query_pos like tgt (may be undefined when unused). The last
  // num_k_exclude_rope memory tokens (object pointers) get no rotary
  // encoding.
  at::Tensor forward(const at::Tensor& tgt, const at::Tensor& memory,
                     const at::Tensor& pos, const at::Tensor& query_pos,
                     int64_t num_k_exclude_rope = 0);

  const MemoryAttentionLayerOptions& options() const { return options_; }
  bool cross_attention_uses_rope() const {
    return options_.cross_attention.use_rope;
  }

  std::shared_ptr<AttentionImpl> self_attn;
  std::shared_ptr<AttentionImpl> cross_attn_image;
  torch::nn::Linear linear1{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear linear2{nullptr};
  torch::nn::LayerNorm norm1{nullptr};
  torch::nn::LayerNorm norm2{nullptr};
  torch::nn::LayerNorm norm3{nullptr};
  torch::nn::Dropout dropout1{nullptr};
  torch::nn::Dropout dropout2{nullptr};
  torch::nn::Dropout dropout3{nullptr};

 private:
  at::Tensor ForwardSelfAttention(const at::Tensor& tgt,
                                  const at::Tensor& query_pos);
  at::Tensor ForwardCrossAttention(const at::Tensor& tgt,
                                   const at::Tensor& memory,
                                   const at::Tensor& query_pos,
                                   const at::Tensor& pos,
                                   int64_t num_k_exclude_rope);

  MemoryAttentionLayerOptions options_;
};
TORCH_MODULE(MemoryAttentionLayer);

struct MemoryAttentionOptions {
  int64_t d_model = 256;
  // Add 0.1 * curr_pos to the input features.
  bool pos_enc_at_input = true;
  MemoryAttentionLayerOptions layer;
  int64_t num_layers = 4;
  // Whether the layers take batch-first inputs (the interface is sequence
  // first either way).
  bool batch_first = true;
};

class MemoryAttentionImpl : public torch::nn::Module {
 public:
  explicit MemoryAttentionImpl(const MemoryAttentionOptions& options = {});

  // Sequence first: curr [HW, B, d_model], curr_pos like curr, memory
  // [Nm, B, kv_dim], memory_pos like memory; the last num_obj_ptr_tokens
  // memory tokens are object pointers. Returns [HW, B, d_model].
  at::Tensor forward(const at::Tensor& curr, const at::Tensor& memory,
                     const at::Tensor& curr_pos, const at::Tensor& memory_pos,
                     int64_t num_obj_ptr_tokens = 0);

  const MemoryAttentionOptions& options() const { return options_; }

  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm norm{nullptr};

 private:
  MemoryAttentionOptions options_;
  std::vector<MemoryAttentionLayer> layer_modules_;
};
TORCH_MODULE(MemoryAttention);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_MEMORY_ATTENTION_H_
