#include "sam2/modeling/sam/prompt_encoder.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <string>

#include "sam2/modeling/conv_gradients.h"
#include "sam2/modeling/patch_conv.h"

namespace sam2::modeling {

PromptEncoderImpl::PromptEncoderImpl(const PromptEncoderOptions& options)
    : options_(options) {
  const int64_t dim = options_.embed_dim;
  TORCH_CHECK(dim > 0 && dim % 2 == 0,
              "PromptEncoder: embed_dim must be positive and even");
  TORCH_CHECK(options_.mask_in_chans >= 4,
              "PromptEncoder: mask_in_chans must be at least 4");
  pe_layer = register_module(
      "pe_layer",
      PositionEmbeddingRandom(PositionEmbeddingRandomOptions(dim / 2)));

  point_embeddings =
      register_module("point_embeddings", torch::nn::ModuleList());
  for (int64_t i = 0; i < kNumPointEmbeddings; ++i) {
    torch::nn::Embedding embedding(1, dim);
    point_embeddings->push_back(embedding);
    point_embedding_list_.push_back(embedding);
  }
  not_a_point_embed =
      register_module("not_a_point_embed", torch::nn::Embedding(1, dim));

  const int64_t chans = options_.mask_in_chans;
  using torch::nn::Conv2d;
  using torch::nn::Conv2dOptions;
  downscale_conv1_ = Conv2d(Conv2dOptions(1, chans / 4, 2).stride(2));
  downscale_norm1_ = LayerNorm2d(chans / 4);
  downscale_act1_ = ActivationLayer(options_.activation);
  downscale_conv2_ = Conv2d(Conv2dOptions(chans / 4, chans, 2).stride(2));
  downscale_norm2_ = LayerNorm2d(chans);
  downscale_act2_ = ActivationLayer(options_.activation);
  downscale_conv3_ = Conv2d(Conv2dOptions(chans, dim, 1));
  mask_downscaling = register_module(
      "mask_downscaling",
      torch::nn::Sequential(downscale_conv1_, downscale_norm1_, downscale_act1_,
                            downscale_conv2_, downscale_norm2_, downscale_act2_,
                            downscale_conv3_));
  no_mask_embed =
      register_module("no_mask_embed", torch::nn::Embedding(1, dim));
}

at::Tensor PromptEncoderImpl::get_dense_pe() {
  return pe_layer->forward(options_.image_embedding_size).unsqueeze(0);
}

at::Tensor PromptEncoderImpl::embed_points(const at::Tensor& points_in,
                                           const at::Tensor& labels_in,
                                           bool pad) {
  at::Tensor points = points_in + 0.5;  // to the pixel centre
  at::Tensor labels = labels_in;
  if (pad) {
    at::Tensor padding_point =
        at::zeros({points.size(0), 1, 2}, points.options().dtype(at::kFloat));
    at::Tensor padding_label = -at::ones({labels.size(0), 1}, labels.options());
    points = at::cat({points, padding_point}, 1);
    labels = at::cat({labels, padding_label}, 1);
  }
  at::Tensor embedding =
      pe_layer->forward_with_coords(points, options_.input_image_size);

  // Same sequence of selections as the reference (padding replaced by the
  // not-a-point embedding, then the label's embedding added).
  embedding = at::where((labels == -1).unsqueeze(-1),
                        at::zeros_like(embedding) + not_a_point_embed->weight,
                        embedding);
  for (int64_t label = 0; label < kNumPointEmbeddings; ++label) {
    embedding =
        at::where((labels == label).unsqueeze(-1),
                  embedding + point_embedding_list_[label]->weight, embedding);
  }
  return embedding;
}

at::Tensor PromptEncoderImpl::embed_boxes(const at::Tensor& boxes) {
  at::Tensor coords = (boxes + 0.5).reshape({-1, 2, 2});
  at::Tensor corners =
      pe_layer->forward_with_coords(coords, options_.input_image_size);
  // The reference adds the corner embeddings in place on the two slices.
  at::Tensor top_left = corners.select(1, 0) + point_embedding_list_[2]->weight;
  at::Tensor bottom_right =
      corners.select(1, 1) + point_embedding_list_[3]->weight;
  return at::stack({top_left, bottom_right}, 1);
}

at::Tensor PromptEncoderImpl::embed_masks(const at::Tensor& masks) {
  // mask_downscaling's modules one by one, its 2 x 2 stride-2 convolutions
  // as matrix products (patch_conv.h), the 1 x 1 one's gradient as well
  // (conv_gradients.h).
  at::Tensor x = downscale_act1_->forward(
      downscale_norm1_->forward(ApplyPatchConv(downscale_conv1_, masks)));
  x = downscale_act2_->forward(
      downscale_norm2_->forward(ApplyPatchConv(downscale_conv2_, x)));
  return ApplyConv2d(downscale_conv3_, x);
}

std::pair<at::Tensor, at::Tensor> PromptEncoderImpl::forward(
    const std::optional<std::pair<at::Tensor, at::Tensor>>& points,
    const std::optional<at::Tensor>& boxes,
    const std::optional<at::Tensor>& masks) {
  int64_t bs = 1;
  if (points.has_value()) {
    bs = points->first.size(0);
  } else if (boxes.has_value()) {
    bs = boxes->size(0);
  } else if (masks.has_value()) {
    bs = masks->size(0);
  }
  const auto device = point_embedding_list_[0]->weight.device();
  at::Tensor sparse = at::empty({bs, 0, options_.embed_dim},
                                at::TensorOptions().device(device));
  if (points.has_value()) {
    at::Tensor point_embeddings_out =
        embed_points(points->first, points->second, /*pad=*/!boxes.has_value());
    sparse = at::cat({sparse, point_embeddings_out}, 1);
  }
  if (boxes.has_value()) {
    sparse = at::cat({sparse, embed_boxes(*boxes)}, 1);
  }

  at::Tensor dense;
  if (masks.has_value()) {
    dense = embed_masks(*masks);
  } else {
    dense = no_mask_embed->weight.reshape({1, -1, 1, 1})
                .expand({bs, -1, options_.image_embedding_size[0],
                         options_.image_embedding_size[1]});
  }
  return {sparse, dense};
}

}  // namespace sam2::modeling
