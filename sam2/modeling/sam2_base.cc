#include "sam2/modeling/sam2_base.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdlib>
#include <tuple>
#include <utility>

#include "sam2/modeling/conv_gradients.h"
#include "sam2/modeling/resize.h"
#include "sam2/modeling/sam2_utils.h"

namespace sam2::modeling {
namespace {

// torch.nn.init.trunc_normal_(std=std) with its default absolute bounds
// [-2, 2] (far outside +-std for the small stds used here).
at::Tensor TruncNormal(at::IntArrayRef shape, double std) {
  return at::empty(shape).normal_(0.0, std).clamp_(-2.0, 2.0);
}

// Python's floor division (the memory bank's stride arithmetic can go
// negative near the start of a video).
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// F.interpolate(x, size, mode="bilinear", align_corners=False,
// antialias=antialias).
at::Tensor ResizeBilinear(const at::Tensor& x, int64_t height, int64_t width,
                          bool antialias) {
  if (antialias) {
    return at::_upsample_bilinear2d_aa(x, {height, width},
                                       /*align_corners=*/false, c10::nullopt,
                                       c10::nullopt);
  }
  return modeling::ResizeBilinear(x, height, width);
}

// Picks index[b] along dim 1 of x [B, M, ...] -> [B, 1, ...].
at::Tensor TakeAlongDim1(const at::Tensor& x, const at::Tensor& index) {
  std::vector<int64_t> view_shape(x.dim(), 1);
  view_shape[0] = x.size(0);
  std::vector<int64_t> expand_shape = x.sizes().vec();
  expand_shape[1] = 1;
  return x.gather(1, index.view(view_shape).expand(expand_shape));
}

}  // namespace

at::Tensor SeqFirstToImage(const at::Tensor& x, int64_t height, int64_t width) {
  return x.permute({1, 2, 0}).view({x.size(1), x.size(2), height, width});
}

const FrameOutput* FrameOutputMap::Find(int64_t frame_idx) const {
  for (const auto& [t, out] : entries_) {
    if (t == frame_idx) return &out;
  }
  return nullptr;
}

void FrameOutputMap::Set(int64_t frame_idx, FrameOutput output) {
  for (auto& [t, out] : entries_) {
    if (t == frame_idx) {
      out = std::move(output);
      return;
    }
  }
  entries_.emplace_back(frame_idx, std::move(output));
}

std::vector<int64_t> FrameOutputMap::Keys() const {
  std::vector<int64_t> keys;
  keys.reserve(entries_.size());
  for (const auto& entry : entries_) keys.push_back(entry.first);
  return keys;
}

SAM2BaseImpl::SAM2BaseImpl(const SAM2BaseOptions& options) : options_(options) {
  const SAM2BaseOptions& o = options_;
  if (o.proj_tpos_enc_in_obj_ptrs) {
    TORCH_CHECK(o.add_tpos_enc_to_obj_ptrs,
                "proj_tpos_enc_in_obj_ptrs needs add_tpos_enc_to_obj_ptrs");
  }
  if (o.fixed_no_obj_ptr) {
    TORCH_CHECK(o.pred_obj_scores && o.use_obj_ptrs_in_encoder,
                "fixed_no_obj_ptr needs pred_obj_scores and "
                "use_obj_ptrs_in_encoder");
  }
  num_feature_levels_ = o.use_high_res_features_in_sam ? 3 : 1;
  hidden_dim_ = o.image_encoder.neck.d_model;
  mem_dim_ = o.memory_encoder.out_dim != o.memory_encoder.in_dim
                 ? o.memory_encoder.out_dim
                 : hidden_dim_;
  sam_image_embedding_size_ = o.image_size / o.backbone_stride;

  // Own parameters first, so that named_parameters() follows the official
  // state_dict order.
  maskmem_tpos_enc = register_parameter(
      "maskmem_tpos_enc", TruncNormal({o.num_maskmem, 1, 1, mem_dim_}, 0.02));
  no_mem_embed = register_parameter("no_mem_embed",
                                    TruncNormal({1, 1, hidden_dim_}, 0.02));
  no_mem_pos_enc = register_parameter("no_mem_pos_enc",
                                      TruncNormal({1, 1, hidden_dim_}, 0.02));
  if (o.pred_obj_scores && o.use_obj_ptrs_in_encoder) {
    no_obj_ptr =
        register_parameter("no_obj_ptr", TruncNormal({1, hidden_dim_}, 0.02));
  }
  if (o.no_obj_embed_spatial) {
    no_obj_embed_spatial = register_parameter("no_obj_embed_spatial",
                                              TruncNormal({1, mem_dim_}, 0.02));
  }

  image_encoder =
      register_module("image_encoder", ImageEncoder(o.image_encoder));
  if (o.use_obj_ptrs_in_encoder) {
    // Brings a mask prompt to the SAM logits' stride 4 and scale.
    mask_downsample = register_module(
        "mask_downsample",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 1, 4).stride(4)));
  }
  memory_attention =
      register_module("memory_attention", MemoryAttention(o.memory_attention));
  memory_encoder =
      register_module("memory_encoder", MemoryEncoder(o.memory_encoder));

  // The SAM heads, with SAM's fixed hyper-parameters.
  PromptEncoderOptions prompt;
  prompt.embed_dim = hidden_dim_;
  prompt.image_embedding_size = {sam_image_embedding_size_,
                                 sam_image_embedding_size_};
  prompt.input_image_size = {o.image_size, o.image_size};
  prompt.mask_in_chans = 16;
  sam_prompt_encoder =
      register_module("sam_prompt_encoder", PromptEncoder(prompt));
  MaskDecoderOptions decoder;
  decoder.transformer_dim = hidden_dim_;
  decoder.transformer = TwoWayTransformerOptions(/*depth=*/2, hidden_dim_,
                                                 /*num_heads=*/8,
                                                 /*mlp_dim=*/2048);
  decoder.num_multimask_outputs = 3;
  decoder.iou_head_depth = 3;
  decoder.iou_head_hidden_dim = 256;
  decoder.use_high_res_features = o.use_high_res_features_in_sam;
  decoder.iou_prediction_use_sigmoid = o.iou_prediction_use_sigmoid;
  decoder.pred_obj_scores = o.pred_obj_scores;
  decoder.pred_obj_scores_mlp = o.pred_obj_scores_mlp;
  decoder.use_multimask_token_for_obj_ptr = o.use_multimask_token_for_obj_ptr;
  if (o.sam_mask_decoder_extra_args.has_value()) {
    const MaskDecoderExtraArgs& extra = *o.sam_mask_decoder_extra_args;
    decoder.dynamic_multimask_via_stability =
        extra.dynamic_multimask_via_stability;
    decoder.dynamic_multimask_stability_delta =
        extra.dynamic_multimask_stability_delta;
    decoder.dynamic_multimask_stability_thresh =
        extra.dynamic_multimask_stability_thresh;
  }
  sam_mask_decoder = register_module("sam_mask_decoder", MaskDecoder(decoder));
  if (o.use_obj_ptrs_in_encoder) {
    if (o.use_mlp_for_obj_ptr_proj) {
      obj_ptr_proj_mlp = register_module(
          "obj_ptr_proj",
          MLP(MLPOptions(hidden_dim_, hidden_dim_, hidden_dim_, 3)));
    } else {
      obj_ptr_proj_linear = register_module(
          "obj_ptr_proj", torch::nn::Linear(hidden_dim_, hidden_dim_));
    }
  }
  if (o.proj_tpos_enc_in_obj_ptrs) {
    obj_ptr_tpos_proj = register_module(
        "obj_ptr_tpos_proj", torch::nn::Linear(hidden_dim_, mem_dim_));
  }
}

at::Tensor SAM2BaseImpl::project_obj_ptr(const at::Tensor& token) {
  if (obj_ptr_proj_mlp) return obj_ptr_proj_mlp->forward(token);
  if (obj_ptr_proj_linear) return ApplyLinear(obj_ptr_proj_linear, token);
  return token;
}

ImageEncoderOutput SAM2BaseImpl::forward_image(const at::Tensor& img_batch) {
  RECORD_USER_SCOPE("sam2::forward_image");
  ImageEncoderOutput out = image_encoder->forward(img_batch);
  if (options_.use_high_res_features_in_sam) {
    // Projected once here rather than on every SAM click.
    out.backbone_fpn[0] =
        ApplyConv2d(sam_mask_decoder->conv_s0, out.backbone_fpn[0]);
    out.backbone_fpn[1] =
        ApplyConv2d(sam_mask_decoder->conv_s1, out.backbone_fpn[1]);
  }
  return out;
}

BackboneFeatures SAM2BaseImpl::prepare_backbone_features(
    const ImageEncoderOutput& backbone_out) const {
  const auto& fpn = backbone_out.backbone_fpn;
  const auto& pos = backbone_out.vision_pos_enc;
  TORCH_CHECK(fpn.size() == pos.size(),
              "backbone_fpn and vision_pos_enc sizes");
  TORCH_CHECK(static_cast<int64_t>(fpn.size()) >= num_feature_levels_,
              "too few feature levels");
  BackboneFeatures features;
  for (size_t i = fpn.size() - num_feature_levels_; i < fpn.size(); ++i) {
    features.feat_sizes.push_back({pos[i].size(-2), pos[i].size(-1)});
    // NCHW -> (HW)NC
    features.vision_feats.push_back(fpn[i].flatten(2).permute({2, 0, 1}));
    features.vision_pos_embeds.push_back(pos[i].flatten(2).permute({2, 0, 1}));
  }
  return features;
}

SamHeadOutputs SAM2BaseImpl::forward_sam_heads(
    const at::Tensor& backbone_features,
    const std::optional<PointInputs>& point_inputs,
    const at::Tensor& mask_inputs,
    const std::vector<at::Tensor>& high_res_features, bool multimask_output) {
  RECORD_USER_SCOPE("sam2::forward_sam_heads");
  const int64_t batch = backbone_features.size(0);
  const auto device = backbone_features.device();
  TORCH_CHECK(backbone_features.size(1) == hidden_dim_ &&
                  backbone_features.size(2) == sam_image_embedding_size_ &&
                  backbone_features.size(3) == sam_image_embedding_size_,
              "forward_sam_heads: unexpected backbone features ",
              backbone_features.sizes());

  at::Tensor coords, labels;
  if (point_inputs.has_value()) {
    coords = point_inputs->point_coords;
    labels = point_inputs->point_labels;
    TORCH_CHECK(coords.size(0) == batch && labels.size(0) == batch,
                "point inputs do not match the batch");
  } else {
    // No points: one padding point (label -1).
    coords = at::zeros({batch, 1, 2}, at::TensorOptions().device(device));
    labels = -at::ones({batch, 1},
                       at::TensorOptions().dtype(at::kInt).device(device));
  }

  std::optional<at::Tensor> sam_mask_prompt;
  if (mask_inputs.defined()) {
    TORCH_CHECK(mask_inputs.dim() == 4 && mask_inputs.size(0) == batch &&
                    mask_inputs.size(1) == 1,
                "mask_inputs must be [B, 1, H, W]");
    const auto size = sam_prompt_encoder->mask_input_size();
    if (mask_inputs.size(2) != size[0] || mask_inputs.size(3) != size[1]) {
      sam_mask_prompt = ResizeBilinear(mask_inputs.to(at::kFloat), size[0],
                                       size[1], /*antialias=*/true);
    } else {
      sam_mask_prompt = mask_inputs;
    }
  }

  auto [sparse, dense] = sam_prompt_encoder->forward(
      std::make_pair(coords, labels), std::nullopt, sam_mask_prompt);
  const MaskDecoderOutput decoded = sam_mask_decoder->forward(
      backbone_features, sam_prompt_encoder->get_dense_pe(), sparse, dense,
      multimask_output, /*repeat_image=*/false, high_res_features);

  SamHeadOutputs out;
  at::Tensor low_res_multimasks = decoded.masks;
  at::Tensor is_obj_appearing;
  if (options_.pred_obj_scores) {
    is_obj_appearing = decoded.object_score_logits > 0;
    // Masks for the memory are a hard choice between object and no object.
    low_res_multimasks =
        at::where(is_obj_appearing.view({batch, 1, 1, 1}), low_res_multimasks,
                  at::scalar_tensor(kNoObjScore, low_res_multimasks.options()));
  }
  low_res_multimasks = low_res_multimasks.to(at::kFloat);
  const at::Tensor high_res_multimasks =
      ResizeBilinear(low_res_multimasks, options_.image_size,
                     options_.image_size, /*antialias=*/false);

  at::Tensor sam_output_token = decoded.sam_tokens_out.select(1, 0);
  at::Tensor low_res_masks = low_res_multimasks;
  at::Tensor high_res_masks = high_res_multimasks;
  if (multimask_output) {
    // The mask with the highest predicted IoU.
    const at::Tensor best = at::argmax(decoded.iou_pred, -1);
    low_res_masks = TakeAlongDim1(low_res_multimasks, best);
    high_res_masks = TakeAlongDim1(high_res_multimasks, best);
    if (decoded.sam_tokens_out.size(1) > 1) {
      sam_output_token =
          TakeAlongDim1(decoded.sam_tokens_out, best).select(1, 0);
    }
  }

  at::Tensor obj_ptr = project_obj_ptr(sam_output_token);
  if (options_.pred_obj_scores) {
    // Occlusion handling; unlike the masks, the pointer may mix softly.
    const at::Tensor lambda = options_.soft_no_obj_ptr
                                  ? decoded.object_score_logits.sigmoid()
                                  : is_obj_appearing.to(at::kFloat);
    if (options_.fixed_no_obj_ptr) obj_ptr = lambda * obj_ptr;
    obj_ptr = obj_ptr + (1 - lambda) * no_obj_ptr;
  }

  out.low_res_multimasks = low_res_multimasks;
  out.high_res_multimasks = high_res_multimasks;
  out.ious = decoded.iou_pred;
  out.low_res_masks = low_res_masks;
  out.high_res_masks = high_res_masks;
  out.obj_ptr = obj_ptr;
  out.object_score_logits = decoded.object_score_logits;
  return out;
}

SamHeadOutputs SAM2BaseImpl::use_mask_as_output(
    const at::Tensor& backbone_features,
    const std::vector<at::Tensor>& high_res_features,
    const at::Tensor& mask_inputs) {
  // Logits -10 / +10 for background / foreground (sigmoid(-10) = 4.5e-5).
  constexpr double kOutScale = 20.0, kOutBias = -10.0;
  const at::Tensor mask_float = mask_inputs.to(at::kFloat);
  const at::Tensor high_res_masks = mask_float * kOutScale + kOutBias;
  const at::Tensor low_res_masks =
      ResizeBilinear(high_res_masks, high_res_masks.size(-2) / 4,
                     high_res_masks.size(-1) / 4, /*antialias=*/true);
  // A dummy IoU prediction of 1.
  const at::Tensor ious =
      at::ones({mask_inputs.size(0), 1}, mask_float.options());
  at::Tensor obj_ptr;
  if (!options_.use_obj_ptrs_in_encoder) {
    obj_ptr =
        at::zeros({mask_inputs.size(0), hidden_dim_}, mask_float.options());
  } else {
    // The pointer comes from the SAM heads run on the mask prompt.
    obj_ptr = forward_sam_heads(backbone_features, std::nullopt,
                                mask_downsample->forward(mask_float),
                                high_res_features, /*multimask_output=*/false)
                  .obj_ptr;
  }
  // The mask (not the SAM object score) decides whether the object is there.
  const at::Tensor is_obj_appearing =
      (mask_inputs.flatten(1).to(at::kFloat) > 0.0).any(1).unsqueeze(-1);
  const at::Tensor lambda = is_obj_appearing.to(at::kFloat);
  const at::Tensor object_score_logits = kOutScale * lambda + kOutBias;
  if (options_.pred_obj_scores) {
    if (options_.fixed_no_obj_ptr) obj_ptr = lambda * obj_ptr;
    obj_ptr = obj_ptr + (1 - lambda) * no_obj_ptr;
  }
  return {low_res_masks,      high_res_masks, ious,
          low_res_masks,      high_res_masks, obj_ptr,
          object_score_logits};
}

std::tuple<at::Tensor, at::Tensor, int64_t> SAM2BaseImpl::gather_memories(
    int64_t frame_idx, const OutputDict& output_dict, int64_t num_frames,
    bool track_in_reverse, int64_t batch_size, const at::Device& device) {
  const SAM2BaseOptions& o = options_;
  const FrameOutputMap& cond_outputs = output_dict.cond_frame_outputs;
  const FrameOutputMap& non_cond_outputs = output_dict.non_cond_frame_outputs;
  TORCH_CHECK(!cond_outputs.empty(),
              "tracking a frame needs at least one conditioning frame");
  const CondFrameSelection selection = SelectClosestCondFrames(
      frame_idx, cond_outputs.Keys(), o.max_cond_frames_in_attn);
  auto is_unselected = [&](int64_t t) {
    return std::find(selection.unselected.begin(), selection.unselected.end(),
                     t) != selection.unselected.end();
  };
  // A frame's output among the non-conditioning frames, else among the
  // conditioning frames left out of the selection.
  auto find_prev = [&](int64_t t) -> const FrameOutput* {
    if (const FrameOutput* out = non_cond_outputs.Find(t)) return out;
    if (is_unselected(t)) return cond_outputs.Find(t);
    return nullptr;
  };

  // Spatial memories: selected conditioning frames (t_pos 0), then the last
  // num_maskmem - 1 frames (t_pos 1 = the oldest); with a stride r > 1 in
  // eval, every r-th frame except for the immediately preceding one.
  std::vector<std::pair<int64_t, const FrameOutput*>> t_pos_and_prevs;
  for (int64_t t : selection.selected) {
    t_pos_and_prevs.emplace_back(0, cond_outputs.Find(t));
  }
  const int64_t stride = is_training() ? 1 : o.memory_temporal_stride_for_eval;
  for (int64_t t_pos = 1; t_pos < o.num_maskmem; ++t_pos) {
    const int64_t t_rel = o.num_maskmem - t_pos;  // frames before current
    int64_t prev_frame_idx;
    if (t_rel == 1) {
      prev_frame_idx = track_in_reverse ? frame_idx + 1 : frame_idx - 1;
    } else if (!track_in_reverse) {
      prev_frame_idx = FloorDiv(frame_idx - 2, stride) * stride;
      prev_frame_idx -= (t_rel - 2) * stride;
    } else {
      prev_frame_idx = -FloorDiv(-(frame_idx + 2), stride) * stride;
      prev_frame_idx += (t_rel - 2) * stride;
    }
    t_pos_and_prevs.emplace_back(t_pos, find_prev(prev_frame_idx));
  }

  std::vector<at::Tensor> memories, memory_pos;
  for (const auto& [t_pos, prev] : t_pos_and_prevs) {
    if (prev == nullptr) continue;  // padding frames
    memories.push_back(
        prev->maskmem_features.to(device).flatten(2).permute({2, 0, 1}));
    at::Tensor enc =
        prev->maskmem_pos_enc.back().to(device).flatten(2).permute({2, 0, 1});
    enc = enc + maskmem_tpos_enc[o.num_maskmem - t_pos - 1];
    memory_pos.push_back(enc);
  }

  int64_t num_obj_ptr_tokens = 0;
  if (o.use_obj_ptrs_in_encoder) {
    const int64_t max_obj_ptrs =
        std::min(num_frames, o.max_obj_ptrs_in_encoder);
    const int64_t sign = track_in_reverse ? -1 : 1;
    std::vector<int64_t> pos_list;
    std::vector<at::Tensor> ptrs;
    // Pointers of the selected conditioning frames (optionally only those
    // not in the future, in eval).
    const bool past_only =
        !is_training() && o.only_obj_ptrs_in_the_past_for_eval;
    for (int64_t t : selection.selected) {
      if (past_only && (track_in_reverse ? t < frame_idx : t > frame_idx)) {
        continue;
      }
      pos_list.push_back(o.use_signed_tpos_enc_to_obj_ptrs
                             ? (frame_idx - t) * sign
                             : std::abs(frame_idx - t));
      ptrs.push_back(cond_outputs.Find(t)->obj_ptr);
    }
    // Then up to max_obj_ptrs - 1 earlier non-conditioning frames.
    for (int64_t t_diff = 1; t_diff < max_obj_ptrs; ++t_diff) {
      const int64_t t =
          track_in_reverse ? frame_idx + t_diff : frame_idx - t_diff;
      if (t < 0 || t >= num_frames) break;
      if (const FrameOutput* out = find_prev(t)) {
        pos_list.push_back(t_diff);
        ptrs.push_back(out->obj_ptr);
      }
    }
    if (!ptrs.empty()) {
      const int64_t channels = hidden_dim_;
      at::Tensor obj_ptrs = at::stack(ptrs, 0);  // [P, B, C]
      at::Tensor obj_pos;
      if (o.add_tpos_enc_to_obj_ptrs) {
        // Sine encoding of the temporal distance, normalised by the maximum.
        const int64_t t_diff_max = max_obj_ptrs - 1;
        const int64_t tpos_dim =
            o.proj_tpos_enc_in_obj_ptrs ? channels : mem_dim_;
        const at::Tensor positions =
            at::tensor(pos_list, at::kLong).to(device) /
            static_cast<double>(t_diff_max);
        obj_pos = Get1dSinePe(positions, tpos_dim);
        if (obj_ptr_tpos_proj)
          obj_pos = ApplyLinear(obj_ptr_tpos_proj, obj_pos);
        obj_pos = obj_pos.unsqueeze(1).expand({-1, batch_size, mem_dim_});
      } else {
        obj_pos = at::zeros(
            {static_cast<int64_t>(pos_list.size()), batch_size, mem_dim_},
            obj_ptrs.options());
      }
      if (mem_dim_ < channels) {
        // A pointer becomes channels / mem_dim memory tokens.
        const int64_t split = channels / mem_dim_;
        obj_ptrs = obj_ptrs.reshape({-1, batch_size, split, mem_dim_})
                       .permute({0, 2, 1, 3})
                       .flatten(0, 1);
        obj_pos = obj_pos.repeat_interleave(split, 0);
      }
      memories.push_back(obj_ptrs);
      memory_pos.push_back(obj_pos);
      num_obj_ptr_tokens = obj_ptrs.size(0);
    }
  }
  return {at::cat(memories, 0), at::cat(memory_pos, 0), num_obj_ptr_tokens};
}

at::Tensor SAM2BaseImpl::prepare_memory_conditioned_features(
    int64_t frame_idx, bool is_init_cond_frame,
    const std::vector<at::Tensor>& current_vision_feats,
    const std::vector<at::Tensor>& current_vision_pos_embeds,
    const std::vector<std::array<int64_t, 2>>& feat_sizes,
    const OutputDict& output_dict, int64_t num_frames, bool track_in_reverse) {
  RECORD_USER_SCOPE("sam2::prepare_memory_conditioned_features");
  const at::Tensor& feats = current_vision_feats.back();
  const int64_t batch = feats.size(1);
  const auto [height, width] = feat_sizes.back();
  if (options_.num_maskmem == 0) {
    // No memory (SAM on images): plain image features.
    return SeqFirstToImage(feats, height, width);
  }
  at::Tensor memory, memory_pos;
  int64_t num_obj_ptr_tokens = 0;
  if (!is_init_cond_frame) {
    std::tie(memory, memory_pos, num_obj_ptr_tokens) =
        gather_memories(frame_idx, output_dict, num_frames, track_in_reverse,
                        batch, feats.device());
  } else {
    if (options_.directly_add_no_mem_embed) {
      return SeqFirstToImage(feats + no_mem_embed, height, width);
    }
    // A dummy memory token, so that memory attention has some input.
    memory = no_mem_embed.expand({1, batch, mem_dim_});
    memory_pos = no_mem_pos_enc.expand({1, batch, mem_dim_});
  }
  const at::Tensor fused =
      memory_attention->forward(feats, memory, current_vision_pos_embeds.back(),
                                memory_pos, num_obj_ptr_tokens);
  return SeqFirstToImage(fused, height, width);
}

std::pair<at::Tensor, std::vector<at::Tensor>> SAM2BaseImpl::encode_new_memory(
    const std::vector<at::Tensor>& current_vision_feats,
    const std::vector<std::array<int64_t, 2>>& feat_sizes,
    const at::Tensor& pred_masks_high_res,
    const at::Tensor& object_score_logits, bool is_mask_from_pts) {
  RECORD_USER_SCOPE("sam2::encode_new_memory");
  const auto [height, width] = feat_sizes.back();
  const at::Tensor pix_feat =
      SeqFirstToImage(current_vision_feats.back(), height, width);
  at::Tensor masks = pred_masks_high_res;
  if (options_.non_overlap_masks_for_mem_enc && !is_training()) {
    // Eval only: every object of the batch comes from the same video.
    masks = apply_non_overlapping_constraints(masks);
  }
  at::Tensor mask_for_mem;
  if (options_.binarize_mask_from_pts_for_mem_enc && is_mask_from_pts &&
      !is_training()) {
    mask_for_mem = (masks > 0).to(at::kFloat);
  } else {
    mask_for_mem = at::sigmoid(masks);
  }
  if (options_.sigmoid_scale_for_mem_enc != 1.0) {
    mask_for_mem = mask_for_mem * options_.sigmoid_scale_for_mem_enc;
  }
  if (options_.sigmoid_bias_for_mem_enc != 0.0) {
    mask_for_mem = mask_for_mem + options_.sigmoid_bias_for_mem_enc;
  }
  MemoryEncoderOutput encoded = memory_encoder->forward(
      pix_feat, mask_for_mem, /*skip_mask_sigmoid=*/true);
  at::Tensor features = encoded.vision_features;
  if (no_obj_embed_spatial.defined()) {
    // Marks the memory of a frame where the object is predicted absent.
    const at::Tensor is_obj_appearing =
        (object_score_logits > 0).to(at::kFloat);
    features =
        features + (1 - is_obj_appearing.unsqueeze(-1).unsqueeze(-1)) *
                       no_obj_embed_spatial.unsqueeze(-1).unsqueeze(-1).expand(
                           features.sizes());
  }
  return {features, {encoded.vision_pos_enc}};
}

TrackStepResult SAM2BaseImpl::track_step_core(
    int64_t frame_idx, bool is_init_cond_frame,
    const std::vector<at::Tensor>& current_vision_feats,
    const std::vector<at::Tensor>& current_vision_pos_embeds,
    const std::vector<std::array<int64_t, 2>>& feat_sizes,
    const std::optional<PointInputs>& point_inputs,
    const at::Tensor& mask_inputs, const OutputDict& output_dict,
    int64_t num_frames, bool track_in_reverse,
    const at::Tensor& prev_sam_mask_logits) {
  TrackStepResult result;
  result.current_out.point_inputs = point_inputs;
  result.current_out.mask_inputs = mask_inputs;
  for (size_t i = 0; i + 1 < current_vision_feats.size(); ++i) {
    result.high_res_features.push_back(SeqFirstToImage(
        current_vision_feats[i], feat_sizes[i][0], feat_sizes[i][1]));
  }
  if (mask_inputs.defined() && options_.use_mask_input_as_output_without_sam) {
    // The mask prompt is taken as the output (like a ground-truth mask).
    const auto [height, width] = feat_sizes.back();
    result.pix_feat =
        SeqFirstToImage(current_vision_feats.back(), height, width);
    result.sam_outputs = use_mask_as_output(
        result.pix_feat, result.high_res_features, mask_inputs);
    return result;
  }
  result.pix_feat = prepare_memory_conditioned_features(
      frame_idx, is_init_cond_frame, {current_vision_feats.back()},
      {current_vision_pos_embeds.back()}, {feat_sizes.back()}, output_dict,
      num_frames, track_in_reverse);
  at::Tensor sam_mask_inputs = mask_inputs;
  if (prev_sam_mask_logits.defined()) {
    // Earlier low-res logits fed along with new clicks (interactive use).
    TORCH_CHECK(point_inputs.has_value() && !mask_inputs.defined(),
                "prev_sam_mask_logits need points and no mask input");
    sam_mask_inputs = prev_sam_mask_logits;
  }
  const bool multimask = use_multimask(is_init_cond_frame, point_inputs);
  result.sam_outputs =
      forward_sam_heads(result.pix_feat, point_inputs, sam_mask_inputs,
                        result.high_res_features, multimask);
  return result;
}

void SAM2BaseImpl::encode_memory_in_output(
    const std::vector<at::Tensor>& current_vision_feats,
    const std::vector<std::array<int64_t, 2>>& feat_sizes,
    bool has_point_inputs, bool run_mem_encoder,
    const at::Tensor& high_res_masks, const at::Tensor& object_score_logits,
    FrameOutput& current_out) {
  if (run_mem_encoder && options_.num_maskmem > 0) {
    auto [features, pos_enc] =
        encode_new_memory(current_vision_feats, feat_sizes, high_res_masks,
                          object_score_logits, has_point_inputs);
    current_out.maskmem_features = features;
    current_out.maskmem_pos_enc = std::move(pos_enc);
  } else {
    current_out.maskmem_features = at::Tensor();
    current_out.maskmem_pos_enc.clear();
  }
}

FrameOutput SAM2BaseImpl::track_step(
    int64_t frame_idx, bool is_init_cond_frame,
    const std::vector<at::Tensor>& current_vision_feats,
    const std::vector<at::Tensor>& current_vision_pos_embeds,
    const std::vector<std::array<int64_t, 2>>& feat_sizes,
    const std::optional<PointInputs>& point_inputs,
    const at::Tensor& mask_inputs, const OutputDict& output_dict,
    int64_t num_frames, bool track_in_reverse, bool run_mem_encoder,
    const at::Tensor& prev_sam_mask_logits) {
  TrackStepResult step = track_step_core(
      frame_idx, is_init_cond_frame, current_vision_feats,
      current_vision_pos_embeds, feat_sizes, point_inputs, mask_inputs,
      output_dict, num_frames, track_in_reverse, prev_sam_mask_logits);
  FrameOutput& out = step.current_out;
  out.pred_masks = step.sam_outputs.low_res_masks;
  out.pred_masks_high_res = step.sam_outputs.high_res_masks;
  out.obj_ptr = step.sam_outputs.obj_ptr;
  // Kept in training too (the reference drops it there only to keep DDP's
  // unused-parameter check quiet).
  out.object_score_logits = step.sam_outputs.object_score_logits;
  encode_memory_in_output(current_vision_feats, feat_sizes,
                          point_inputs.has_value(), run_mem_encoder,
                          step.sam_outputs.high_res_masks,
                          step.sam_outputs.object_score_logits, out);
  return std::move(out);
}

bool SAM2BaseImpl::use_multimask(
    bool is_init_cond_frame,
    const std::optional<PointInputs>& point_inputs) const {
  const int64_t num_pts =
      point_inputs.has_value() ? point_inputs->point_labels.size(1) : 0;
  return options_.multimask_output_in_sam &&
         (is_init_cond_frame || options_.multimask_output_for_tracking) &&
         options_.multimask_min_pt_num <= num_pts &&
         num_pts <= options_.multimask_max_pt_num;
}

at::Tensor SAM2BaseImpl::apply_non_overlapping_constraints(
    const at::Tensor& pred_masks) const {
  const int64_t batch = pred_masks.size(0);
  if (batch == 1) return pred_masks;
  const at::Tensor max_obj_inds = at::argmax(pred_masks, 0, /*keepdim=*/true);
  const at::Tensor batch_obj_inds =
      at::arange(batch, at::TensorOptions().dtype(at::kLong).device(
                            pred_masks.device()))
          .view({batch, 1, 1, 1});
  const at::Tensor keep = max_obj_inds == batch_obj_inds;
  // Suppressed scores go below -10 (sigmoid(-10) = 4.5e-5).
  return at::where(keep, pred_masks, at::clamp_max(pred_masks, -10.0));
}

}  // namespace sam2::modeling
