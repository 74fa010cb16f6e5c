// Image encoder = Hiera trunk + FPN neck (port of the reference
// sam2/modeling/backbones/image_encoder.py).
//
// Keys under image_encoder.: trunk.* (see hieradet.h) and
// neck.convs.<i>.conv.{weight,bias}; the neck's sine position encoding has
// no state.
#ifndef SAM2_MODELING_BACKBONES_IMAGE_ENCODER_H_
#define SAM2_MODELING_BACKBONES_IMAGE_ENCODER_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sam2/modeling/backbones/hieradet.h"
#include "sam2/modeling/position_encoding.h"

namespace sam2::modeling {

// ---------------------------------------------------------------------------
// The F.interpolate modes of the neck's top-down upsampling (the reference's
// fpn_interp_model string).
enum class FpnInterpMode { kNearest, kNearestExact, kBilinear, kBicubic };
// How top-down and lateral features combine (the reference's fuse_type).
enum class FpnFuseType { kSum, kAvg };

// FPN variant without output convs: 1x1 lateral convs to d_model, top-down
// upsampling (x2) and summing only on `fpn_top_down_levels`.
struct FpnNeckOptions {
  PositionEmbeddingSineOptions position_encoding;
  int64_t d_model = 0;
  // Trunk channels, lowest resolution first (Hiera's channel_list).
  std::vector<int64_t> backbone_channel_list;
  int64_t kernel_size = 1;
  int64_t stride = 1;
  int64_t padding = 0;
  FpnInterpMode fpn_interp_model = FpnInterpMode::kBilinear;
  FpnFuseType fuse_type = FpnFuseType::kSum;
  // Levels (0 = highest resolution) that receive top-down features; unset
  // means all levels.
  std::optional<std::vector<int64_t>> fpn_top_down_levels;
};

class FpnNeckImpl : public torch::nn::Module {
 public:
  explicit FpnNeckImpl(const FpnNeckOptions& options);

  // Trunk features (highest resolution first) -> (features, position
  // encodings), both highest resolution first.
  std::pair<std::vector<at::Tensor>, std::vector<at::Tensor>> forward(
      const std::vector<at::Tensor>& xs);

  const FpnNeckOptions& options() const { return options_; }
  // convs[i].conv, i.e. lateral_convs()[0] works on the lowest resolution.
  std::vector<torch::nn::Conv2d> lateral_convs() const {
    return lateral_convs_;
  }

  PositionEmbeddingSine position_encoding{nullptr};
  torch::nn::ModuleList convs{nullptr};  // of Sequential("conv": Conv2d)

 private:
  at::Tensor upsample_x2(const at::Tensor& x) const;

  FpnNeckOptions options_;
  std::vector<int64_t> top_down_levels_;
  std::vector<torch::nn::Conv2d> lateral_convs_;  // convs[i].conv
};
TORCH_MODULE(FpnNeck);

// ---------------------------------------------------------------------------
struct ImageEncoderOptions {
  HieraOptions trunk;
  FpnNeckOptions neck;
  int64_t scalp = 0;  // number of lowest-resolution levels to drop
};

// The reference returns a dict with these keys.
struct ImageEncoderOutput {
  at::Tensor vision_features;              // == backbone_fpn.back()
  std::vector<at::Tensor> vision_pos_enc;  // highest resolution first
  std::vector<at::Tensor> backbone_fpn;    // highest resolution first
};

class ImageEncoderImpl : public torch::nn::Module {
 public:
  // Checks that the trunk's channel_list equals the neck's
  // backbone_channel_list.
  explicit ImageEncoderImpl(const ImageEncoderOptions& options);

  ImageEncoderOutput forward(const at::Tensor& sample);

  const ImageEncoderOptions& options() const { return options_; }

  Hiera trunk{nullptr};
  FpnNeck neck{nullptr};

 private:
  ImageEncoderOptions options_;
};
TORCH_MODULE(ImageEncoder);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_BACKBONES_IMAGE_ENCODER_H_
