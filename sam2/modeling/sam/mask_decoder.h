// SAM's mask decoder (port of the reference sam2/modeling/sam/mask_decoder.py):
// output tokens (object score, IoU, mask tokens) and prompt tokens run
// through the two-way transformer with the image embedding; the mask tokens
// become per-mask hypernetwork weights over the upscaled image embedding.
//
// Keys under sam_mask_decoder.: transformer.*, iou_token, mask_tokens,
// obj_score_token, output_upscaling.{0,1,3}, conv_s0, conv_s1,
// output_hypernetworks_mlps.<i>.layers.*, iou_prediction_head.layers.*,
// pred_obj_score_head.{weight,bias | layers.*}.
#ifndef SAM2_MODELING_SAM_MASK_DECODER_H_
#define SAM2_MODELING_SAM_MASK_DECODER_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "sam2/modeling/sam/transformer.h"
#include "sam2/modeling/sam2_utils.h"

namespace sam2::modeling {

struct MaskDecoderOptions {
  int64_t transformer_dim = 0;
  // The reference takes the transformer module; the default is what SAM2Base
  // builds: TwoWayTransformer(depth=2, embedding_dim=transformer_dim,
  // mlp_dim=2048, num_heads=8). An embedding_dim of 0 means transformer_dim.
  TwoWayTransformerOptions transformer = {/*depth=*/2, /*embedding_dim=*/0,
                                          /*num_heads=*/8, /*mlp_dim=*/2048};
  int64_t num_multimask_outputs = 3;
  Activation activation = Activation::kGelu;
  int64_t iou_head_depth = 3;
  int64_t iou_head_hidden_dim = 256;
  bool use_high_res_features = false;
  bool iou_prediction_use_sigmoid = false;
  bool dynamic_multimask_via_stability = false;
  double dynamic_multimask_stability_delta = 0.05;
  double dynamic_multimask_stability_thresh = 0.98;
  bool pred_obj_scores = false;
  bool pred_obj_scores_mlp = false;
  bool use_multimask_token_for_obj_ptr = false;
};

// The reference's 4-tuple (masks, iou_pred, sam_tokens_out,
// object_score_logits).
struct MaskDecoderOutput {
  at::Tensor masks;                // [B, M, 4*H, 4*W] logits
  at::Tensor iou_pred;             // [B, M]
  at::Tensor sam_tokens_out;       // [B, 1 or M, C]
  at::Tensor object_score_logits;  // [B, 1]
};

// predict_masks' outputs before the multimask selection.
struct MaskPrediction {
  at::Tensor masks;            // [B, num_mask_tokens, 4*H, 4*W]
  at::Tensor iou_pred;         // [B, num_mask_tokens]
  at::Tensor mask_tokens_out;  // [B, num_mask_tokens, C]
  at::Tensor object_score_logits;
};

class MaskDecoderImpl : public torch::nn::Module {
 public:
  explicit MaskDecoderImpl(const MaskDecoderOptions& options);

  // image_embeddings [B or 1, C, H, W] (1 with repeat_image), image_pe
  // [1, C, H, W], sparse [B, N, C], dense [B, C, H, W]; high_res_features
  // (feat_s0 [B, C/8, 4H, 4W], feat_s1 [B, C/4, 2H, 2W]) when
  // use_high_res_features.
  MaskDecoderOutput forward(
      const at::Tensor& image_embeddings, const at::Tensor& image_pe,
      const at::Tensor& sparse_prompt_embeddings,
      const at::Tensor& dense_prompt_embeddings, bool multimask_output,
      bool repeat_image, const std::vector<at::Tensor>& high_res_features = {});

  MaskPrediction predict_masks(
      const at::Tensor& image_embeddings, const at::Tensor& image_pe,
      const at::Tensor& sparse_prompt_embeddings,
      const at::Tensor& dense_prompt_embeddings, bool repeat_image,
      const std::vector<at::Tensor>& high_res_features = {});

  // IoU between the masks thresholded at +delta and -delta, [B, M] for
  // logits [B, M, H, W] (1 where the -delta mask is empty).
  at::Tensor get_stability_scores(const at::Tensor& mask_logits) const;
  // Keeps the single-mask output where it is stable, else takes the
  // multimask output with the highest predicted IoU. Returns (masks, ious).
  std::pair<at::Tensor, at::Tensor> dynamic_multimask_via_stability(
      const at::Tensor& all_mask_logits,
      const at::Tensor& all_iou_scores) const;

  const MaskDecoderOptions& options() const { return options_; }
  int64_t num_mask_tokens() const { return num_mask_tokens_; }

  TwoWayTransformer transformer{nullptr};
  torch::nn::Embedding iou_token{nullptr};
  torch::nn::Embedding mask_tokens{nullptr};
  torch::nn::Embedding obj_score_token{nullptr};  // pred_obj_scores only
  torch::nn::Sequential output_upscaling{nullptr};
  torch::nn::Conv2d conv_s0{nullptr};  // use_high_res_features only
  torch::nn::Conv2d conv_s1{nullptr};  // use_high_res_features only
  torch::nn::ModuleList output_hypernetworks_mlps{nullptr};  // of MLP
  MLP iou_prediction_head{nullptr};
  // pred_obj_scores only: an MLP with pred_obj_scores_mlp, else a Linear.
  MLP pred_obj_score_mlp{nullptr};
  torch::nn::Linear pred_obj_score_linear{nullptr};

 private:
  MaskDecoderOptions options_;
  int64_t num_mask_tokens_ = 0;
  // The modules of output_upscaling, by role.
  torch::nn::ConvTranspose2d upscale_conv1_{nullptr};
  LayerNorm2d upscale_norm1_{nullptr};
  ActivationLayer upscale_act1_{nullptr};
  torch::nn::ConvTranspose2d upscale_conv2_{nullptr};
  ActivationLayer upscale_act2_{nullptr};
  std::vector<MLP> hypernetwork_mlps_;
};
TORCH_MODULE(MaskDecoder);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_SAM_MASK_DECODER_H_
