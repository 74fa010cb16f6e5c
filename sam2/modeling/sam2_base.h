// SAM2Base: the tracking logic of SAM 2 (port of the reference
// sam2/modeling/sam2_base.py). It owns the image encoder, the memory
// attention, the memory encoder and the SAM prompt encoder / mask decoder,
// and conditions each frame's features on a memory bank of earlier frames
// (spatial memories with temporal encodings, plus object pointers).
//
// State_dict keys are the official ones, in the official order:
// maskmem_tpos_enc, no_mem_embed, no_mem_pos_enc, no_obj_ptr,
// no_obj_embed_spatial, image_encoder.*, mask_downsample.*,
// memory_attention.*, memory_encoder.*, sam_prompt_encoder.*,
// sam_mask_decoder.*, obj_ptr_proj.*, obj_ptr_tpos_proj.*.
//
// The reference passes per-frame state around in dicts; here they are the
// structs below. Features handed between the steps are sequence first,
// [H*W, B, C], as in the reference.
#ifndef SAM2_MODELING_SAM2_BASE_H_
#define SAM2_MODELING_SAM2_BASE_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "sam2/modeling/backbones/image_encoder.h"
#include "sam2/modeling/memory_attention.h"
#include "sam2/modeling/memory_encoder.h"
#include "sam2/modeling/sam/mask_decoder.h"
#include "sam2/modeling/sam/prompt_encoder.h"
#include "sam2/modeling/sam2_utils.h"

namespace sam2::modeling {

// A placeholder mask logit for objects predicted absent.
inline constexpr double kNoObjScore = -1024.0;

// Extra MaskDecoder arguments (the reference's sam_mask_decoder_extra_args;
// used by the inference configs only).
struct MaskDecoderExtraArgs {
  bool dynamic_multimask_via_stability = false;
  double dynamic_multimask_stability_delta = 0.05;
  double dynamic_multimask_stability_thresh = 0.98;
};

// Every argument of the reference SAM2Base.__init__, with its defaults.
struct SAM2BaseOptions {
  ImageEncoderOptions image_encoder;
  MemoryAttentionOptions memory_attention;
  MemoryEncoderOptions memory_encoder;
  int64_t num_maskmem = 7;  // 1 input frame + 6 previous frames
  int64_t image_size = 512;
  int64_t backbone_stride = 16;
  double sigmoid_scale_for_mem_enc = 1.0;
  double sigmoid_bias_for_mem_enc = 0.0;
  // Eval only: binarise the mask logits of clicked frames for the memory.
  bool binarize_mask_from_pts_for_mem_enc = false;
  // On frames with a mask prompt, output the mask itself (no SAM heads).
  bool use_mask_input_as_output_without_sam = false;
  // Cross-attend to at most this many conditioning frames (-1: all).
  int64_t max_cond_frames_in_attn = -1;
  // On initial conditioning frames, add no_mem_embed to the features instead
  // of running memory attention on a dummy memory.
  bool directly_add_no_mem_embed = false;
  bool use_high_res_features_in_sam = false;
  bool multimask_output_in_sam = false;
  int64_t multimask_min_pt_num = 1;
  int64_t multimask_max_pt_num = 1;
  bool multimask_output_for_tracking = false;
  bool use_multimask_token_for_obj_ptr = false;
  bool iou_prediction_use_sigmoid = false;
  // Eval only: the memory bank's temporal stride r.
  int64_t memory_temporal_stride_for_eval = 1;
  // Eval only: keep the highest-scoring object at each pixel for the memory.
  bool non_overlap_masks_for_mem_enc = false;
  bool use_obj_ptrs_in_encoder = false;
  int64_t max_obj_ptrs_in_encoder = 16;
  bool add_tpos_enc_to_obj_ptrs = true;
  bool proj_tpos_enc_in_obj_ptrs = false;
  bool use_signed_tpos_enc_to_obj_ptrs = false;
  bool only_obj_ptrs_in_the_past_for_eval = false;
  bool pred_obj_scores = false;
  bool pred_obj_scores_mlp = false;
  bool fixed_no_obj_ptr = false;
  bool soft_no_obj_ptr = false;
  bool use_mlp_for_obj_ptr_proj = false;
  bool no_obj_embed_spatial = false;
  std::optional<MaskDecoderExtraArgs> sam_mask_decoder_extra_args;
  // torch.compile of the image encoder: accepted for config compatibility,
  // no effect here.
  bool compile_image_encoder = false;
};

// Point prompts: coords float [B, P, 2] (x, y) in input-image pixels, labels
// int32 [B, P] (1 positive, 0 negative, 2/3 box corners, -1 padding).
struct PointInputs {
  at::Tensor point_coords;
  at::Tensor point_labels;
};

// What _prepare_backbone_features returns: the last num_feature_levels
// levels, flattened to [H*W, B, C], highest resolution first.
struct BackboneFeatures {
  std::vector<at::Tensor> vision_feats;
  std::vector<at::Tensor> vision_pos_embeds;
  std::vector<std::array<int64_t, 2>> feat_sizes;  // (H, W) per level
};

// The 7-tuple of _forward_sam_heads / _use_mask_as_output.
struct SamHeadOutputs {
  at::Tensor low_res_multimasks;   // [B, M, 4H, 4W]
  at::Tensor high_res_multimasks;  // [B, M, image_size, image_size]
  at::Tensor ious;                 // [B, M]
  at::Tensor low_res_masks;        // [B, 1, 4H, 4W] (best of M)
  at::Tensor high_res_masks;       // [B, 1, image_size, image_size]
  at::Tensor obj_ptr;              // [B, hidden_dim]
  at::Tensor object_score_logits;  // [B, 1]
};

// One frame's outputs (the reference's `current_out` dict). The multistep_*
// fields are filled by SAM2Train (one entry per prompting step).
struct FrameOutput {
  std::optional<PointInputs> point_inputs;
  at::Tensor mask_inputs;  // undefined: none
  at::Tensor pred_masks;
  at::Tensor pred_masks_high_res;
  at::Tensor obj_ptr;
  at::Tensor object_score_logits;
  at::Tensor maskmem_features;              // undefined: not encoded
  std::vector<at::Tensor> maskmem_pos_enc;  // empty: not encoded

  at::Tensor multistep_pred_masks;
  at::Tensor multistep_pred_masks_high_res;
  std::vector<at::Tensor> multistep_pred_multimasks;
  std::vector<at::Tensor> multistep_pred_multimasks_high_res;
  std::vector<at::Tensor> multistep_pred_ious;
  std::vector<std::optional<PointInputs>> multistep_point_inputs;
  std::vector<at::Tensor> multistep_object_score_logits;
};

// Frame index -> output, iterated in insertion order like the reference's
// dicts (the order decides how memories are concatenated).
class FrameOutputMap {
 public:
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  const FrameOutput* Find(int64_t frame_idx) const;
  // Inserts or replaces (a replaced entry keeps its position).
  void Set(int64_t frame_idx, FrameOutput output);
  std::vector<int64_t> Keys() const;
  const std::vector<std::pair<int64_t, FrameOutput>>& entries() const {
    return entries_;
  }

 private:
  std::vector<std::pair<int64_t, FrameOutput>> entries_;
};

struct OutputDict {
  FrameOutputMap cond_frame_outputs;
  FrameOutputMap non_cond_frame_outputs;
};

// What _track_step returns besides the head outputs.
struct TrackStepResult {
  FrameOutput current_out;
  SamHeadOutputs sam_outputs;
  std::vector<at::Tensor> high_res_features;  // empty without high-res
  at::Tensor pix_feat;                        // [B, C, H, W]
};

class SAM2BaseImpl : public torch::nn::Module {
 public:
  explicit SAM2BaseImpl(const SAM2BaseOptions& options);

  // Image features of img_batch [N, 3, H, W]; with high-res features the
  // first two FPN levels are already projected by the decoder's conv_s0/s1.
  ImageEncoderOutput forward_image(const at::Tensor& img_batch);

  BackboneFeatures prepare_backbone_features(
      const ImageEncoderOutput& backbone_out) const;

  // SAM prompt encoder + mask decoder on backbone_features [B, C, H, W].
  // mask_inputs (may be undefined): [B, 1, H', W'] logits or 0/1, resized to
  // the prompt encoder's mask size when needed.
  SamHeadOutputs forward_sam_heads(
      const at::Tensor& backbone_features,
      const std::optional<PointInputs>& point_inputs,
      const at::Tensor& mask_inputs,
      const std::vector<at::Tensor>& high_res_features, bool multimask_output);

  // A 0/1 mask prompt turned into output logits (+-10) without SAM; the
  // object pointer still comes from the SAM heads on the downsampled mask.
  SamHeadOutputs use_mask_as_output(
      const at::Tensor& backbone_features,
      const std::vector<at::Tensor>& high_res_features,
      const at::Tensor& mask_inputs);

  // The current frame's top-level features fused with the memory bank:
  // [B, C, H, W]. The inputs are the top level only ([H*W, B, C]).
  at::Tensor prepare_memory_conditioned_features(
      int64_t frame_idx, bool is_init_cond_frame,
      const std::vector<at::Tensor>& current_vision_feats,
      const std::vector<at::Tensor>& current_vision_pos_embeds,
      const std::vector<std::array<int64_t, 2>>& feat_sizes,
      const OutputDict& output_dict, int64_t num_frames,
      bool track_in_reverse = false);

  // Memory features [B, mem_dim, H, W] and position encodings of a frame's
  // predicted masks [B, 1, image_size, image_size].
  std::pair<at::Tensor, std::vector<at::Tensor>> encode_new_memory(
      const std::vector<at::Tensor>& current_vision_feats,
      const std::vector<std::array<int64_t, 2>>& feat_sizes,
      const at::Tensor& pred_masks_high_res,
      const at::Tensor& object_score_logits, bool is_mask_from_pts);

  // One frame of tracking (SAM2Base.track_step).
  FrameOutput track_step(
      int64_t frame_idx, bool is_init_cond_frame,
      const std::vector<at::Tensor>& current_vision_feats,
      const std::vector<at::Tensor>& current_vision_pos_embeds,
      const std::vector<std::array<int64_t, 2>>& feat_sizes,
      const std::optional<PointInputs>& point_inputs,
      const at::Tensor& mask_inputs, const OutputDict& output_dict,
      int64_t num_frames, bool track_in_reverse = false,
      bool run_mem_encoder = true, const at::Tensor& prev_sam_mask_logits = {});

  // Whether the SAM head outputs 3 masks for this many clicks.
  bool use_multimask(bool is_init_cond_frame,
                     const std::optional<PointInputs>& point_inputs) const;

  // Keeps only the highest-scoring object at each pixel (others clamped to
  // <= -10): pred_masks [B, 1, H, W].
  at::Tensor apply_non_overlapping_constraints(
      const at::Tensor& pred_masks) const;

  const SAM2BaseOptions& options() const { return options_; }
  int64_t hidden_dim() const { return hidden_dim_; }
  int64_t mem_dim() const { return mem_dim_; }
  int64_t num_feature_levels() const { return num_feature_levels_; }

  // Parameters (undefined when the options leave them out).
  at::Tensor maskmem_tpos_enc;      // [num_maskmem, 1, 1, mem_dim]
  at::Tensor no_mem_embed;          // [1, 1, hidden_dim]
  at::Tensor no_mem_pos_enc;        // [1, 1, hidden_dim]
  at::Tensor no_obj_ptr;            // [1, hidden_dim]
  at::Tensor no_obj_embed_spatial;  // [1, mem_dim]

  ImageEncoder image_encoder{nullptr};
  torch::nn::Conv2d mask_downsample{nullptr};  // use_obj_ptrs_in_encoder
  MemoryAttention memory_attention{nullptr};
  MemoryEncoder memory_encoder{nullptr};
  PromptEncoder sam_prompt_encoder{nullptr};
  MaskDecoder sam_mask_decoder{nullptr};
  // obj_ptr_proj: an MLP, a Linear, or identity (both null).
  MLP obj_ptr_proj_mlp{nullptr};
  torch::nn::Linear obj_ptr_proj_linear{nullptr};
  torch::nn::Linear obj_ptr_tpos_proj{nullptr};  // null: identity

 protected:
  // SAM2Base._track_step: runs the SAM heads (or the mask-as-output path) on
  // the memory-conditioned features.
  TrackStepResult track_step_core(
      int64_t frame_idx, bool is_init_cond_frame,
      const std::vector<at::Tensor>& current_vision_feats,
      const std::vector<at::Tensor>& current_vision_pos_embeds,
      const std::vector<std::array<int64_t, 2>>& feat_sizes,
      const std::optional<PointInputs>& point_inputs,
      const at::Tensor& mask_inputs, const OutputDict& output_dict,
      int64_t num_frames, bool track_in_reverse,
      const at::Tensor& prev_sam_mask_logits);

  // _encode_memory_in_output.
  void encode_memory_in_output(
      const std::vector<at::Tensor>& current_vision_feats,
      const std::vector<std::array<int64_t, 2>>& feat_sizes,
      bool has_point_inputs, bool run_mem_encoder,
      const at::Tensor& high_res_masks, const at::Tensor& object_score_logits,
      FrameOutput& current_out);

  at::Tensor project_obj_ptr(const at::Tensor& token);

 private:
  // Memories of earlier frames and the object pointers, for a frame that is
  // not an initial conditioning frame. Returns (memory, memory_pos,
  // num_obj_ptr_tokens).
  std::tuple<at::Tensor, at::Tensor, int64_t> gather_memories(
      int64_t frame_idx, const OutputDict& output_dict, int64_t num_frames,
      bool track_in_reverse, int64_t batch_size, const at::Device& device);

  SAM2BaseOptions options_;
  int64_t hidden_dim_ = 0;
  int64_t mem_dim_ = 0;
  int64_t num_feature_levels_ = 1;
  int64_t sam_image_embedding_size_ = 0;
};
TORCH_MODULE(SAM2Base);

// Sequence-first features [H*W, B, C] -> [B, C, H, W].
at::Tensor SeqFirstToImage(const at::Tensor& x, int64_t height, int64_t width);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_SAM2_BASE_H_
