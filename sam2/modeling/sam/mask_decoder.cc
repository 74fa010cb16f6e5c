#include "sam2/modeling/sam/mask_decoder.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "sam2/modeling/patch_conv.h"
#include "sam2/modeling/sam2_utils.h"

namespace sam2::modeling {

MaskDecoderImpl::MaskDecoderImpl(const MaskDecoderOptions& options)
    : options_(options) {
  const int64_t dim = options_.transformer_dim;
  TORCH_CHECK(dim > 0 && dim % 8 == 0,
              "MaskDecoder: transformer_dim must be a positive multiple of 8");
  TwoWayTransformerOptions transformer_options = options_.transformer;
  if (transformer_options.embedding_dim == 0) {
    transformer_options.embedding_dim = dim;
  }
  options_.transformer = transformer_options;
  transformer =
      register_module("transformer", TwoWayTransformer(transformer_options));

  num_mask_tokens_ = options_.num_multimask_outputs + 1;
  iou_token = register_module("iou_token", torch::nn::Embedding(1, dim));
  mask_tokens = register_module("mask_tokens",
                                torch::nn::Embedding(num_mask_tokens_, dim));
  if (options_.pred_obj_scores) {
    obj_score_token =
        register_module("obj_score_token", torch::nn::Embedding(1, dim));
  }

  using torch::nn::ConvTranspose2d;
  using torch::nn::ConvTranspose2dOptions;
  upscale_conv1_ =
      ConvTranspose2d(ConvTranspose2dOptions(dim, dim / 4, 2).stride(2));
  upscale_norm1_ = LayerNorm2d(dim / 4);
  upscale_act1_ = ActivationLayer(options_.activation);
  upscale_conv2_ =
      ConvTranspose2d(ConvTranspose2dOptions(dim / 4, dim / 8, 2).stride(2));
  upscale_act2_ = ActivationLayer(options_.activation);
  output_upscaling = register_module(
      "output_upscaling",
      torch::nn::Sequential(upscale_conv1_, upscale_norm1_, upscale_act1_,
                            upscale_conv2_, upscale_act2_));

  if (options_.use_high_res_features) {
    conv_s0 = register_module(
        "conv_s0",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, dim / 8, 1)));
    conv_s1 = register_module(
        "conv_s1",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, dim / 4, 1)));
  }

  output_hypernetworks_mlps =
      register_module("output_hypernetworks_mlps", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_mask_tokens_; ++i) {
    MLP mlp(MLPOptions(dim, dim, dim / 8, 3));
    output_hypernetworks_mlps->push_back(mlp);
    hypernetwork_mlps_.push_back(mlp);
  }

  MLPOptions iou_options(dim, options_.iou_head_hidden_dim, num_mask_tokens_,
                         options_.iou_head_depth);
  iou_options.sigmoid_output = options_.iou_prediction_use_sigmoid;
  iou_prediction_head =
      register_module("iou_prediction_head", MLP(iou_options));

  if (options_.pred_obj_scores) {
    if (options_.pred_obj_scores_mlp) {
      pred_obj_score_mlp = register_module("pred_obj_score_head",
                                           MLP(MLPOptions(dim, dim, 1, 3)));
    } else {
      pred_obj_score_linear =
          register_module("pred_obj_score_head", torch::nn::Linear(dim, 1));
    }
  }
}

MaskPrediction MaskDecoderImpl::predict_masks(
    const at::Tensor& image_embeddings, const at::Tensor& image_pe,
    const at::Tensor& sparse_prompt_embeddings,
    const at::Tensor& dense_prompt_embeddings, bool repeat_image,
    const std::vector<at::Tensor>& high_res_features) {
  // Output tokens: [obj_score,] iou, mask tokens; then the prompt tokens.
  int64_t s = 0;
  at::Tensor output_tokens;
  if (options_.pred_obj_scores) {
    output_tokens = at::cat(
        {obj_score_token->weight, iou_token->weight, mask_tokens->weight}, 0);
    s = 1;
  } else {
    output_tokens = at::cat({iou_token->weight, mask_tokens->weight}, 0);
  }
  const int64_t batch = sparse_prompt_embeddings.size(0);
  output_tokens = output_tokens.unsqueeze(0).expand({batch, -1, -1});
  at::Tensor tokens = at::cat({output_tokens, sparse_prompt_embeddings}, 1);

  // The image data per mask.
  at::Tensor src;
  if (repeat_image) {
    src = at::repeat_interleave(image_embeddings, batch, 0);
  } else {
    TORCH_CHECK(image_embeddings.size(0) == batch, "MaskDecoder: image batch ",
                image_embeddings.size(0), " != prompt batch ", batch);
    src = image_embeddings;
  }
  src = src + dense_prompt_embeddings;
  TORCH_CHECK(image_pe.size(0) == 1,
              "image_pe should have size 1 in batch dim (from get_dense_pe())");
  at::Tensor pos_src = at::repeat_interleave(image_pe, batch, 0);
  const int64_t b = src.size(0), c = src.size(1), h = src.size(2),
                w = src.size(3);

  auto [hs, keys] = transformer->forward(src, pos_src, tokens);
  at::Tensor iou_token_out = hs.select(1, s);
  at::Tensor mask_tokens_out = hs.narrow(1, s + 1, num_mask_tokens_);

  // Upscale the image embedding (adding the high-resolution features).
  src = keys.transpose(1, 2).view({b, c, h, w});
  at::Tensor upscaled;
  // output_upscaling's modules one by one, its transposed convolutions as
  // matrix products (patch_conv.h).
  if (!options_.use_high_res_features) {
    upscaled = upscale_act1_->forward(
        upscale_norm1_->forward(ApplyPatchConvTranspose(upscale_conv1_, src)));
    upscaled = upscale_act2_->forward(
        ApplyPatchConvTranspose(upscale_conv2_, upscaled));
  } else {
    TORCH_CHECK(high_res_features.size() == 2,
                "MaskDecoder: use_high_res_features needs (feat_s0, feat_s1)");
    const at::Tensor& feat_s0 = high_res_features[0];
    const at::Tensor& feat_s1 = high_res_features[1];
    upscaled = upscale_act1_->forward(upscale_norm1_->forward(
        ApplyPatchConvTranspose(upscale_conv1_, src) + feat_s1));
    upscaled = upscale_act2_->forward(
        ApplyPatchConvTranspose(upscale_conv2_, upscaled) + feat_s0);
  }

  std::vector<at::Tensor> hyper_in_list;
  hyper_in_list.reserve(num_mask_tokens_);
  for (int64_t i = 0; i < num_mask_tokens_; ++i) {
    hyper_in_list.push_back(
        hypernetwork_mlps_[i]->forward(mask_tokens_out.select(1, i)));
  }
  at::Tensor hyper_in = at::stack(hyper_in_list, 1);
  const int64_t ub = upscaled.size(0), uc = upscaled.size(1),
                uh = upscaled.size(2), uw = upscaled.size(3);
  at::Tensor masks = at::matmul(hyper_in, upscaled.view({ub, uc, uh * uw}))
                         .view({ub, -1, uh, uw});

  MaskPrediction out;
  out.masks = masks;
  out.iou_pred = iou_prediction_head->forward(iou_token_out);
  out.mask_tokens_out = mask_tokens_out;
  if (options_.pred_obj_scores) {
    at::Tensor obj_token = hs.select(1, 0);
    out.object_score_logits =
        options_.pred_obj_scores_mlp
            ? pred_obj_score_mlp->forward(obj_token)
            : ApplyLinear(pred_obj_score_linear, obj_token);
  } else {
    // Object assumed present: sigmoid(10) ~ 1.
    out.object_score_logits =
        10.0 * at::ones({out.iou_pred.size(0), 1}, out.iou_pred.options());
  }
  return out;
}

MaskDecoderOutput MaskDecoderImpl::forward(
    const at::Tensor& image_embeddings, const at::Tensor& image_pe,
    const at::Tensor& sparse_prompt_embeddings,
    const at::Tensor& dense_prompt_embeddings, bool multimask_output,
    bool repeat_image, const std::vector<at::Tensor>& high_res_features) {
  MaskPrediction pred =
      predict_masks(image_embeddings, image_pe, sparse_prompt_embeddings,
                    dense_prompt_embeddings, repeat_image, high_res_features);

  MaskDecoderOutput out;
  if (multimask_output) {
    out.masks = pred.masks.slice(1, 1);
    out.iou_pred = pred.iou_pred.slice(1, 1);
  } else if (options_.dynamic_multimask_via_stability && !is_training()) {
    std::tie(out.masks, out.iou_pred) =
        dynamic_multimask_via_stability(pred.masks, pred.iou_pred);
  } else {
    out.masks = pred.masks.slice(1, 0, 1);
    out.iou_pred = pred.iou_pred.slice(1, 0, 1);
  }

  if (multimask_output && options_.use_multimask_token_for_obj_ptr) {
    out.sam_tokens_out = pred.mask_tokens_out.slice(1, 1);
  } else {
    // Always the single-mask token otherwise: during training tracking
    // follows several clicks, so that token is the one memory has seen.
    out.sam_tokens_out = pred.mask_tokens_out.slice(1, 0, 1);
  }
  out.object_score_logits = pred.object_score_logits;
  return out;
}

at::Tensor MaskDecoderImpl::get_stability_scores(
    const at::Tensor& mask_logits) const {
  at::Tensor flat = mask_logits.flatten(-2);
  const double delta = options_.dynamic_multimask_stability_delta;
  at::Tensor area_i = at::sum(flat > delta, -1).to(at::kFloat);
  at::Tensor area_u = at::sum(flat > -delta, -1).to(at::kFloat);
  return at::where(area_u > 0, area_i / area_u, at::ones_like(area_i));
}

std::pair<at::Tensor, at::Tensor>
MaskDecoderImpl::dynamic_multimask_via_stability(
    const at::Tensor& all_mask_logits, const at::Tensor& all_iou_scores) const {
  // Best of the multimask outputs (tokens 1..) by predicted IoU.
  at::Tensor multimask_logits = all_mask_logits.slice(1, 1);
  at::Tensor multimask_iou_scores = all_iou_scores.slice(1, 1);
  at::Tensor best_scores_inds = at::argmax(multimask_iou_scores, -1);
  at::Tensor batch_inds = at::arange(
      multimask_iou_scores.size(0),
      at::TensorOptions().dtype(at::kLong).device(all_iou_scores.device()));
  at::Tensor best_multimask_logits =
      multimask_logits.index({batch_inds, best_scores_inds}).unsqueeze(1);
  at::Tensor best_multimask_iou_scores =
      multimask_iou_scores.index({batch_inds, best_scores_inds}).unsqueeze(1);

  // The single-mask output (token 0) and its stability.
  at::Tensor singlemask_logits = all_mask_logits.slice(1, 0, 1);
  at::Tensor singlemask_iou_scores = all_iou_scores.slice(1, 0, 1);
  at::Tensor stability_scores = get_stability_scores(singlemask_logits);
  at::Tensor is_stable =
      stability_scores >= options_.dynamic_multimask_stability_thresh;

  at::Tensor mask_logits_out = at::where(
      is_stable.unsqueeze(-1).unsqueeze(-1).expand_as(singlemask_logits),
      singlemask_logits, best_multimask_logits);
  at::Tensor iou_scores_out =
      at::where(is_stable.expand_as(singlemask_iou_scores),
                singlemask_iou_scores, best_multimask_iou_scores);
  return {mask_logits_out, iou_scores_out};
}

}  // namespace sam2::modeling
