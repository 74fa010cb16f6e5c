#include "sam2/modeling/backbones/image_encoder.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/modules/container/sequential.h>

#include <algorithm>
#include <sstream>

namespace sam2::modeling {

// ---------------------------------------------------------------------------
FpnNeckImpl::FpnNeckImpl(const FpnNeckOptions& options) : options_(options) {
  position_encoding = register_module(
      "position_encoding", PositionEmbeddingSine(options_.position_encoding));
  convs = register_module("convs", torch::nn::ModuleList());
  for (int64_t dim : options_.backbone_channel_list) {
    torch::nn::Conv2d conv(
        torch::nn::Conv2dOptions(dim, options_.d_model, options_.kernel_size)
            .stride(options_.stride)
            .padding(options_.padding));
    convs->push_back(torch::nn::Sequential({{"conv", conv}}));
    lateral_convs_.push_back(conv);
  }
  if (options_.fpn_top_down_levels.has_value()) {
    top_down_levels_ = *options_.fpn_top_down_levels;
  } else {
    for (int64_t i = 0; i < static_cast<int64_t>(lateral_convs_.size()); ++i) {
      top_down_levels_.push_back(i);
    }
  }
}

at::Tensor FpnNeckImpl::upsample_x2(const at::Tensor& x_in) const {
  // F.interpolate(x.float(), scale_factor=2.0, align_corners=None for
  // nearest else False): the output size is floor(2 * size) and the kernels
  // get the scale factor itself.
  at::Tensor x = x_in.to(at::kFloat);
  const std::vector<int64_t> out_size = {x.size(2) * 2, x.size(3) * 2};
  switch (options_.fpn_interp_model) {
    case FpnInterpMode::kNearest:
      return at::upsample_nearest2d(x, out_size, 2.0, 2.0);
    case FpnInterpMode::kNearestExact:
      return at::_upsample_nearest_exact2d(x, out_size, 2.0, 2.0);
    case FpnInterpMode::kBilinear:
      return at::upsample_bilinear2d(x, out_size, /*align_corners=*/false, 2.0,
                                     2.0);
    case FpnInterpMode::kBicubic:
      break;
  }
  return at::upsample_bicubic2d(x, out_size, /*align_corners=*/false, 2.0, 2.0);
}

std::pair<std::vector<at::Tensor>, std::vector<at::Tensor>>
FpnNeckImpl::forward(const std::vector<at::Tensor>& xs) {
  const int64_t num_levels = static_cast<int64_t>(lateral_convs_.size());
  TORCH_CHECK(static_cast<int64_t>(xs.size()) == num_levels, "FpnNeck: got ",
              xs.size(), " feature maps for ", num_levels, " levels");
  std::vector<at::Tensor> out(num_levels), pos(num_levels);
  at::Tensor prev_features;
  // Top-down: from the lowest resolution (last) to the highest (first).
  const int64_t n = num_levels - 1;
  for (int64_t i = n; i >= 0; --i) {
    at::Tensor lateral = lateral_convs_[n - i]->forward(xs[i]);
    const bool top_down =
        std::find(top_down_levels_.begin(), top_down_levels_.end(), i) !=
        top_down_levels_.end();
    if (top_down && prev_features.defined()) {
      prev_features = lateral + upsample_x2(prev_features);
      if (options_.fuse_type == FpnFuseType::kAvg)
        prev_features = prev_features / 2;
    } else {
      prev_features = lateral;
    }
    out[i] = prev_features;
    pos[i] = position_encoding->forward(prev_features)
                 .to(prev_features.scalar_type());
  }
  return {out, pos};
}

// ---------------------------------------------------------------------------
ImageEncoderImpl::ImageEncoderImpl(const ImageEncoderOptions& options)
    : options_(options) {
  trunk = register_module("trunk", Hiera(options_.trunk));
  neck = register_module("neck", FpnNeck(options_.neck));
  if (trunk->channel_list() != options_.neck.backbone_channel_list) {
    std::ostringstream msg;
    msg << "Channel dims of trunk and neck do not match. Trunk: [";
    for (int64_t c : trunk->channel_list()) msg << c << " ";
    msg << "], neck: [";
    for (int64_t c : options_.neck.backbone_channel_list) msg << c << " ";
    msg << "]";
    TORCH_CHECK(false, msg.str());
  }
  TORCH_CHECK(
      options_.scalp >= 0 &&
          options_.scalp < static_cast<int64_t>(trunk->channel_list().size()),
      "ImageEncoder: scalp out of range");
}

ImageEncoderOutput ImageEncoderImpl::forward(const at::Tensor& sample) {
  auto [features, pos] = neck->forward(trunk->forward(sample));
  if (options_.scalp > 0) {
    features.resize(features.size() - options_.scalp);
    pos.resize(pos.size() - options_.scalp);
  }
  ImageEncoderOutput output;
  output.vision_features = features.back();
  output.vision_pos_enc = std::move(pos);
  output.backbone_fpn = std::move(features);
  return output;
}

}  // namespace sam2::modeling
