// The memory encoder of SAM 2 (port of the reference
// sam2/modeling/memory_encoder.py): a frame's image features fused with its
// predicted mask into a spatial memory.
//
// Parameter names mirror the reference: mask_downsampler.encoder.<i>.*,
// pix_feat_proj.*, fuser.layers.<i>.{gamma, dwconv, norm, pwconv1, pwconv2},
// fuser.proj.* (input_projection only), out_proj.* (out_dim != in_dim only).
#ifndef SAM2_MODELING_MEMORY_ENCODER_H_
#define SAM2_MODELING_MEMORY_ENCODER_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "sam2/modeling/position_encoding.h"
#include "sam2/modeling/sam2_utils.h"

namespace sam2::modeling {

// ---------------------------------------------------------------------------
// Downsamples a mask by total_stride in steps of `stride`: each step is
// Conv2d (channels x stride^2) -> LayerNorm2d -> activation; then a 1x1 conv
// to embed_dim channels.
struct MaskDownSamplerOptions {
  int64_t embed_dim = 256;
  int64_t kernel_size = 4;
  int64_t stride = 4;
  int64_t padding = 0;
  int64_t total_stride = 16;
  Activation activation = Activation::kGelu;  // kGelu or kRelu
};

class MaskDownSamplerImpl : public torch::nn::Module {
 public:
  explicit MaskDownSamplerImpl(const MaskDownSamplerOptions& options = {});

  // [B, 1, H, W] -> [B, embed_dim, H / total_stride, W / total_stride].
  at::Tensor forward(const at::Tensor& x);

  const MaskDownSamplerOptions& options() const { return options_; }

  torch::nn::Sequential encoder{nullptr};

 private:
  MaskDownSamplerOptions options_;
};
TORCH_MODULE(MaskDownSampler);

// ---------------------------------------------------------------------------
// ConvNeXt block: depthwise conv -> LayerNorm2d -> Linear (4x) -> GELU ->
// Linear -> layer scale gamma -> drop path, plus the residual.
struct CXBlockOptions {
  int64_t dim = 256;
  int64_t kernel_size = 7;
  int64_t padding = 3;
  double drop_path = 0.0;
  // <= 0: no gamma parameter.
  double layer_scale_init_value = 1e-6;
  bool use_dwconv = true;
};

class CXBlockImpl : public torch::nn::Module {
 public:
  explicit CXBlockImpl(const CXBlockOptions& options = {});

  at::Tensor forward(const at::Tensor& x);

  const CXBlockOptions& options() const { return options_; }

  at::Tensor gamma;  // [dim]; undefined without layer scale
  torch::nn::Conv2d dwconv{nullptr};
  LayerNorm2d norm{nullptr};
  torch::nn::Linear pwconv1{nullptr};
  torch::nn::Linear pwconv2{nullptr};
  DropPath drop_path{nullptr};  // unregistered (no parameters)

 private:
  CXBlockOptions options_;
};
TORCH_MODULE(CXBlock);

// ---------------------------------------------------------------------------
// Optional 1x1 input projection, then num_layers CXBlocks.
struct FuserOptions {
  CXBlockOptions layer;
  int64_t num_layers = 2;
  std::optional<int64_t> dim;  // required with input_projection
  bool input_projection = false;
};

class FuserImpl : public torch::nn::Module {
 public:
  explicit FuserImpl(const FuserOptions& options = {});

  at::Tensor forward(const at::Tensor& x);

  const FuserOptions& options() const { return options_; }

  torch::nn::Conv2d proj{nullptr};  // null: identity
  torch::nn::ModuleList layers{nullptr};

 private:
  FuserOptions options_;
  std::vector<CXBlock> blocks_;
};
TORCH_MODULE(Fuser);

// ---------------------------------------------------------------------------
struct MemoryEncoderOptions {
  MemoryEncoderOptions();

  int64_t out_dim = 64;
  MaskDownSamplerOptions mask_downsampler;
  FuserOptions fuser;
  PositionEmbeddingSineOptions position_encoding;
  int64_t in_dim = 256;  // channels of the image features
};

struct MemoryEncoderOutput {
  at::Tensor vision_features;  // [B, out_dim, H, W]
  at::Tensor vision_pos_enc;   // [B, position channels, H, W]
};

class MemoryEncoderImpl : public torch::nn::Module {
 public:
  explicit MemoryEncoderImpl(const MemoryEncoderOptions& options = {});

  // pix_feat [B, in_dim, H, W]; masks [B, 1, H * 16, W * 16] (logits, or
  // already scaled probabilities with skip_mask_sigmoid).
  MemoryEncoderOutput forward(const at::Tensor& pix_feat,
                              const at::Tensor& masks,
                              bool skip_mask_sigmoid = false);

  const MemoryEncoderOptions& options() const { return options_; }

  MaskDownSampler mask_downsampler{nullptr};
  torch::nn::Conv2d pix_feat_proj{nullptr};
  Fuser fuser{nullptr};
  PositionEmbeddingSine position_encoding{nullptr};
  torch::nn::Conv2d out_proj{nullptr};  // null: identity (out_dim == in_dim)

 private:
  MemoryEncoderOptions options_;
};
TORCH_MODULE(MemoryEncoder);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_MEMORY_ENCODER_H_
