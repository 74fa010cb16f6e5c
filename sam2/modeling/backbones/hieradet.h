// The Hiera image trunk with windowed attention and query pooling (port of
// the reference sam2/modeling/backbones/hieradet.py).
//
// Module tree (state_dict keys under image_encoder.trunk.): pos_embed,
// pos_embed_window, patch_embed.proj, blocks.<i>.{norm1, attn.qkv, attn.proj,
// norm2, mlp.layers.{0,1}, proj (stage changes only)}.
//
// Differs from the reference: the max-pool of q-pooling blocks is applied
// functionally (it has no parameters; the reference shares one nn.MaxPool2d
// between the block and its attention), `weights_path` loading is left
// to the checkpoint package, and windows that pad the map skip the
// padding's rows in attn.qkv and attn.proj and its queries in the attention
// (MultiScaleAttention::attend_windows; the same numbers to float rounding).
#ifndef SAM2_MODELING_BACKBONES_HIERADET_H_
#define SAM2_MODELING_BACKBONES_HIERADET_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sam2/modeling/backbones/utils.h"
#include "sam2/modeling/sam2_utils.h"

namespace sam2::modeling {

// ---------------------------------------------------------------------------
// Attention over all tokens of x [B, H, W, dim] (one window per batch row),
// optionally max-pooling the queries by q_stride, projecting to dim_out.
struct MultiScaleAttentionOptions {
  int64_t dim = 0;
  int64_t dim_out = 0;
  int64_t num_heads = 1;
  std::optional<std::array<int64_t, 2>> q_stride;  // q pooling when set
};

class MultiScaleAttentionImpl : public torch::nn::Module {
 public:
  explicit MultiScaleAttentionImpl(const MultiScaleAttentionOptions& options);

  // [B, H, W, dim] -> [B, H', W', dim_out] (H' = H / q_stride when pooling).
  at::Tensor forward(const at::Tensor& x);
  // The same from qkv(x) [B, H, W, 3 * dim_out] (computed by the caller).
  at::Tensor forward_from_qkv(const at::Tensor& qkv_out);
  // The attention before `proj`: qkv(x) -> [B, H', W', dim_out] (any
  // strides).
  at::Tensor attend(const at::Tensor& qkv_out);
  // The same for qkv(x) in windows [B * nH * nW, ws, ws, 3 * dim_out] of an
  // x [B, H, W, dim] (windows_hw = {nH, nW}): each window attends on its own,
  // and the result is the image [B, H', W', dim_out] (contiguous) that the
  // windows hold, the padding dropped (out_hw = {H', W'}: H x W, or the
  // q-pooled size). Only the queries that are kept are attended: the
  // reference attends the padding's queries too and then drops their rows.
  // Differs from the reference in that only (each kept row has the numbers
  // of the reference's row, to the GEMM's float rounding).
  at::Tensor attend_windows(const at::Tensor& qkv_windows, int64_t batch,
                            std::array<int64_t, 2> windows_hw,
                            std::array<int64_t, 2> out_hw);

  const MultiScaleAttentionOptions& options() const { return options_; }
  torch::nn::Linear qkv{nullptr};
  torch::nn::Linear proj{nullptr};

 private:
  MultiScaleAttentionOptions options_;
};
TORCH_MODULE(MultiScaleAttention);

// ---------------------------------------------------------------------------
struct MultiScaleBlockOptions {
  int64_t dim = 0;
  int64_t dim_out = 0;
  int64_t num_heads = 1;
  double mlp_ratio = 4.0;
  double drop_path = 0.0;
  double norm_eps = 1e-6;  // norm_layer="LayerNorm" with eps=1e-6
  std::optional<std::array<int64_t, 2>> q_stride;
  Activation act_layer = Activation::kGelu;
  int64_t window_size = 0;  // 0: global attention
};

class MultiScaleBlockImpl : public torch::nn::Module {
 public:
  explicit MultiScaleBlockImpl(const MultiScaleBlockOptions& options);

  // [B, H, W, dim] -> [B, H', W', dim_out].
  at::Tensor forward(const at::Tensor& x);

  const MultiScaleBlockOptions& options() const { return options_; }

  torch::nn::LayerNorm norm1{nullptr};
  MultiScaleAttention attn{nullptr};
  DropPath drop_path{nullptr};  // identity when drop_path == 0
  torch::nn::LayerNorm norm2{nullptr};
  MLP mlp{nullptr};
  torch::nn::Linear proj{nullptr};  // only when dim != dim_out

 private:
  at::Tensor pool(const at::Tensor& x_bhwc) const;

  MultiScaleBlockOptions options_;
};
TORCH_MODULE(MultiScaleBlock);

// ---------------------------------------------------------------------------
struct HieraOptions {
  int64_t embed_dim = 96;
  int64_t num_heads = 1;
  double drop_path_rate = 0.0;
  int64_t q_pool = 3;  // number of q-pooling stage changes
  std::array<int64_t, 2> q_stride = {2, 2};
  std::vector<int64_t> stages = {2, 3, 16, 3};
  double dim_mul = 2.0;
  double head_mul = 2.0;
  std::array<int64_t, 2> window_pos_embed_bkg_spatial_size = {14, 14};
  std::vector<int64_t> window_spec = {8, 4, 14, 7};
  std::vector<int64_t> global_att_blocks = {12, 16, 20};
  bool return_interm_layers = true;
};

class HieraImpl : public torch::nn::Module {
 public:
  explicit HieraImpl(const HieraOptions& options = {});

  // Image [B, 3, H, W] -> features [B, C_i, H_i, W_i] of each stage end
  // (highest resolution first), or only the last with
  // return_interm_layers = false.
  std::vector<at::Tensor> forward(const at::Tensor& x);

  const HieraOptions& options() const { return options_; }
  // Output channels, lowest resolution first (matches FpnNeck's
  // backbone_channel_list).
  const std::vector<int64_t>& channel_list() const { return channel_list_; }
  const std::vector<int64_t>& stage_ends() const { return stage_ends_; }
  // For layer-wise lr decay: 0 for pos_embed/patch_embed, block i -> i + 1,
  // anything else num_layers + 1 (the reference's get_layer_id).
  int64_t get_layer_id(const std::string& layer_name) const;
  int64_t get_num_layers() const {
    return static_cast<int64_t>(blocks_.size());
  }

  at::Tensor pos_embed;         // [1, C, bkg_h, bkg_w]
  at::Tensor pos_embed_window;  // [1, C, window_spec[0], window_spec[0]]
  PatchEmbed patch_embed{nullptr};
  torch::nn::ModuleList blocks{nullptr};  // of MultiScaleBlock

 private:
  // Background embedding resized bicubically to (h, w) plus the window
  // embedding tiled over it, channels-last [1, h, w, C].
  at::Tensor get_pos_embed(int64_t h, int64_t w) const;

  HieraOptions options_;
  std::vector<int64_t> stage_ends_;
  std::vector<int64_t> q_pool_blocks_;
  std::vector<int64_t> channel_list_;
  std::vector<MultiScaleBlock> blocks_;  // the modules in `blocks`
};
TORCH_MODULE(Hiera);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_BACKBONES_HIERADET_H_
