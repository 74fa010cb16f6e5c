// SAM's prompt encoder (port of the reference
// sam2/modeling/sam/prompt_encoder.py): points and box corners become sparse
// tokens (random-Fourier PE of the position plus a learned embedding per
// label), a mask prompt becomes a dense embedding.
//
// Keys under sam_prompt_encoder.: pe_layer.positional_encoding_gaussian_matrix,
// point_embeddings.{0..3}.weight, not_a_point_embed.weight,
// mask_downscaling.{0,1,3,4,6}.*, no_mask_embed.weight.
#ifndef SAM2_MODELING_SAM_PROMPT_ENCODER_H_
#define SAM2_MODELING_SAM_PROMPT_ENCODER_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "sam2/modeling/position_encoding.h"
#include "sam2/modeling/sam2_utils.h"

namespace sam2::modeling {

struct PromptEncoderOptions {
  int64_t embed_dim = 0;
  std::array<int64_t, 2> image_embedding_size = {0, 0};  // (H, W)
  std::array<int64_t, 2> input_image_size = {0, 0};      // (H, W)
  int64_t mask_in_chans = 0;
  Activation activation = Activation::kGelu;
};

class PromptEncoderImpl : public torch::nn::Module {
 public:
  // Point labels: 1 positive, 0 negative, 2/3 box top-left/bottom-right,
  // -1 padding ("not a point").
  static constexpr int64_t kNumPointEmbeddings = 4;

  explicit PromptEncoderImpl(const PromptEncoderOptions& options);

  // points: (coords [B, N, 2] in input-image pixels (x, y), labels [B, N]);
  // boxes: [B, 4] (x0, y0, x1, y1) or [B, 2, 2]; masks: [B, 1, 4*H_e, 4*W_e].
  // Returns (sparse [B, N', embed_dim], dense [B, embed_dim, H_e, W_e]).
  // Points get a padding point appended when no boxes are given.
  std::pair<at::Tensor, at::Tensor> forward(
      const std::optional<std::pair<at::Tensor, at::Tensor>>& points,
      const std::optional<at::Tensor>& boxes,
      const std::optional<at::Tensor>& masks);

  // [1, embed_dim, H_e, W_e] positional encoding of the image embedding grid.
  at::Tensor get_dense_pe();

  const PromptEncoderOptions& options() const { return options_; }
  std::array<int64_t, 2> mask_input_size() const {
    return {4 * options_.image_embedding_size[0],
            4 * options_.image_embedding_size[1]};
  }

  PositionEmbeddingRandom pe_layer{nullptr};
  torch::nn::ModuleList point_embeddings{nullptr};  // of Embedding(1, dim)
  torch::nn::Embedding not_a_point_embed{nullptr};
  torch::nn::Sequential mask_downscaling{nullptr};
  torch::nn::Embedding no_mask_embed{nullptr};

 private:
  at::Tensor embed_points(const at::Tensor& points, const at::Tensor& labels,
                          bool pad);
  at::Tensor embed_boxes(const at::Tensor& boxes);
  at::Tensor embed_masks(const at::Tensor& masks);

  PromptEncoderOptions options_;
  std::vector<torch::nn::Embedding> point_embedding_list_;
  // The modules of mask_downscaling, by role.
  torch::nn::Conv2d downscale_conv1_{nullptr};
  LayerNorm2d downscale_norm1_{nullptr};
  ActivationLayer downscale_act1_{nullptr};
  torch::nn::Conv2d downscale_conv2_{nullptr};
  LayerNorm2d downscale_norm2_{nullptr};
  ActivationLayer downscale_act2_{nullptr};
  torch::nn::Conv2d downscale_conv3_{nullptr};
};
TORCH_MODULE(PromptEncoder);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_SAM_PROMPT_ENCODER_H_
