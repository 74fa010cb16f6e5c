#include "sam2/inference/video_predictor.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sam2/inference/mask_postprocessing.h"

namespace sam2::inference {
namespace {

// F.interpolate(x, size, mode="bilinear", align_corners=False).
at::Tensor Bilinear(const at::Tensor& x, int64_t height, int64_t width) {
  return at::upsample_bilinear2d(x, {height, width}, /*align_corners=*/false,
                                 c10::nullopt, c10::nullopt);
}

// A copy of `map` without the frames in `drop` (FrameOutputMap keeps
// insertion order and has no erase).
modeling::FrameOutputMap Without(const modeling::FrameOutputMap& map,
                                 const modeling::FrameOutputMap& drop) {
  modeling::FrameOutputMap kept;
  for (const auto& [t, out] : map.entries()) {
    if (drop.Find(t) == nullptr) kept.Set(t, out);
  }
  return kept;
}

}  // namespace

void SetPostprocessingOptions(modeling::SAM2BaseOptions* model,
                              VideoPredictorOptions* predictor) {
  modeling::MaskDecoderExtraArgs extra;
  extra.dynamic_multimask_via_stability = true;
  extra.dynamic_multimask_stability_delta = 0.05;
  extra.dynamic_multimask_stability_thresh = 0.98;
  model->sam_mask_decoder_extra_args = extra;
  model->binarize_mask_from_pts_for_mem_enc = true;
  predictor->fill_hole_area = 8;
}

VideoPredictor::VideoPredictor(modeling::SAM2Base model,
                               VideoPredictorOptions options)
    : model_(std::move(model)), options_(options) {
  model_->eval();
  const std::vector<at::Tensor> parameters = model_->parameters();
  if (!parameters.empty()) device_ = parameters.front().device();
}

void VideoPredictor::InitState(VideoFrames frames) {
  frames_ = std::move(frames);
  cached_frame_ = -1;
  cached_features_ = {};
  maskmem_pos_enc_ = at::Tensor();
  ResetState();
}

void VideoPredictor::ResetState() {
  obj_ids_.clear();
  objects_.clear();
}

const modeling::BackboneFeatures& VideoPredictor::ImageFeatures(
    int64_t frame_idx) {
  if (cached_frame_ != frame_idx) {
    // Only the latest frame is kept, as the reference's cached_features.
    const at::Tensor image =
        frames_.images[frame_idx].to(device_).to(at::kFloat).unsqueeze(0);
    cached_features_ =
        model_->prepare_backbone_features(model_->forward_image(image));
    cached_frame_ = frame_idx;
  }
  return cached_features_;
}

modeling::FrameOutput VideoPredictor::Compact(modeling::FrameOutput out) {
  modeling::FrameOutput record;
  record.pred_masks = std::move(out.pred_masks);
  record.obj_ptr = std::move(out.obj_ptr);
  record.object_score_logits = std::move(out.object_score_logits);
  if (out.maskmem_features.defined()) {
    // Stored in bfloat16 as the reference stores it; later frames attend to
    // these rounded values (torch.cat next to the float32 object pointers
    // brings them back to float32). Without object pointers nothing would
    // do that cast, so the rounded values are kept in float32 instead.
    at::Tensor mem = out.maskmem_features.to(at::kBFloat16);
    if (!model_->options().use_obj_ptrs_in_encoder) mem = mem.to(at::kFloat);
    record.maskmem_features = std::move(mem);
    // The same for every frame and object: one copy is shared.
    if (!maskmem_pos_enc_.defined()) {
      maskmem_pos_enc_ = out.maskmem_pos_enc.back().slice(0, 0, 1).clone();
    }
    record.maskmem_pos_enc = {maskmem_pos_enc_};
  }
  return record;
}

modeling::FrameOutput VideoPredictor::RunSingleFrame(
    ObjectState& object, int64_t frame_idx, bool is_init_cond_frame,
    const at::Tensor& mask_inputs, bool reverse, bool run_mem_encoder) {
  const modeling::BackboneFeatures& features = ImageFeatures(frame_idx);
  modeling::FrameOutput out = model_->track_step(
      frame_idx, is_init_cond_frame, features.vision_feats,
      features.vision_pos_embeds, features.feat_sizes,
      /*point_inputs=*/std::nullopt, mask_inputs, object.outputs, num_frames(),
      reverse, run_mem_encoder);
  // After the memory encoder (which ran on the unfilled logits inside
  // track_step), as the reference's _run_single_frame_inference.
  if (options_.fill_hole_area > 0) {
    out.pred_masks =
        FillHolesInMaskScores(out.pred_masks, options_.fill_hole_area);
  }
  return Compact(std::move(out));
}

absl::Status VideoPredictor::AddNewMask(int64_t frame_idx, int64_t obj_id,
                                        const at::Tensor& mask) {
  if (frame_idx < 0 || frame_idx >= num_frames()) {
    return absl::InvalidArgumentError(absl::StrCat("frame ", frame_idx,
                                                   " is not in the video (",
                                                   num_frames(), " frames)"));
  }
  if (mask.dim() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("a mask must be [H, W], got ", mask.dim(), " dims"));
  }
  torch::NoGradGuard no_grad;
  auto it = std::find(obj_ids_.begin(), obj_ids_.end(), obj_id);
  size_t obj_idx = it - obj_ids_.begin();
  if (it == obj_ids_.end()) {
    obj_ids_.push_back(obj_id);
    objects_.emplace_back();
  }
  ObjectState& object = objects_[obj_idx];

  const int64_t size = model_->options().image_size;
  // Resized on the model's device, as the reference.
  at::Tensor mask_inputs = mask.to(at::kBool)
                               .to(device_)
                               .to(at::kFloat)
                               .unsqueeze(0)
                               .unsqueeze(0);
  if (mask.size(0) != size || mask.size(1) != size) {
    mask_inputs = at::_upsample_bilinear2d_aa(mask_inputs, {size, size},
                                              /*align_corners=*/false,
                                              c10::nullopt, c10::nullopt);
    mask_inputs = (mask_inputs >= 0.5).to(at::kFloat);
  }

  const auto tracked = object.frames_tracked.find(frame_idx);
  const bool is_init_cond_frame = tracked == object.frames_tracked.end();
  const bool reverse = is_init_cond_frame ? false : tracked->second;
  const bool is_cond =
      is_init_cond_frame || options_.add_all_frames_to_correct_as_cond;
  modeling::FrameOutput out =
      RunSingleFrame(object, frame_idx, is_init_cond_frame, mask_inputs,
                     reverse, /*run_mem_encoder=*/false);
  (is_cond ? object.temp_outputs.cond_frame_outputs
           : object.temp_outputs.non_cond_frame_outputs)
      .Set(frame_idx, std::move(out));
  return absl::OkStatus();
}

absl::Status VideoPredictor::Preflight() {
  if (objects_.empty()) {
    return absl::FailedPreconditionError(
        "no masks were added for any object; add inputs first");
  }
  const int64_t size = model_->options().image_size;
  for (size_t obj_idx = 0; obj_idx < objects_.size(); ++obj_idx) {
    ObjectState& object = objects_[obj_idx];
    for (bool is_cond : {false, true}) {
      modeling::FrameOutputMap& temp =
          is_cond ? object.temp_outputs.cond_frame_outputs
                  : object.temp_outputs.non_cond_frame_outputs;
      modeling::FrameOutputMap& stored =
          is_cond ? object.outputs.cond_frame_outputs
                  : object.outputs.non_cond_frame_outputs;
      for (const auto& [frame_idx, temp_out] : temp.entries()) {
        modeling::FrameOutput out = temp_out;
        if (!out.maskmem_features.defined()) {
          // The memory of a mask prompt, from its logits at input size.
          const at::Tensor high_res_masks =
              Bilinear(out.pred_masks, size, size);
          const modeling::BackboneFeatures& features = ImageFeatures(frame_idx);
          auto [mem, pos] = model_->encode_new_memory(
              features.vision_feats, features.feat_sizes, high_res_masks,
              out.object_score_logits, /*is_mask_from_pts=*/true);
          out.maskmem_features = std::move(mem);
          out.maskmem_pos_enc = std::move(pos);
          out = Compact(std::move(out));
        }
        stored.Set(frame_idx, std::move(out));
      }
      temp = modeling::FrameOutputMap();
    }
    if (object.outputs.cond_frame_outputs.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("no mask was added for object id ", obj_ids_[obj_idx],
                       "; add inputs first"));
    }
    object.outputs.non_cond_frame_outputs =
        Without(object.outputs.non_cond_frame_outputs,
                object.outputs.cond_frame_outputs);
  }
  return absl::OkStatus();
}

at::Tensor VideoPredictor::VideoResMasks(const at::Tensor& low_res) const {
  at::Tensor masks = low_res;
  if (masks.size(-2) != frames_.video_height ||
      masks.size(-1) != frames_.video_width) {
    masks = Bilinear(masks, frames_.video_height, frames_.video_width);
  }
  if (options_.non_overlap_masks) {
    masks = model_->apply_non_overlapping_constraints(masks);
  }
  return masks;
}

at::Tensor VideoPredictor::ApplyNonOverlappingConstraints(
    const at::Tensor& scores) const {
  return model_->apply_non_overlapping_constraints(scores);
}

absl::Status VideoPredictor::PropagateInVideo(
    const FrameCallback& on_frame, std::optional<int64_t> start_frame_idx,
    std::optional<int64_t> max_frames, bool reverse) {
  torch::NoGradGuard no_grad;
  if (absl::Status s = Preflight(); !s.ok()) return s;
  int64_t start = 0;
  if (start_frame_idx.has_value()) {
    start = *start_frame_idx;
  } else {
    start = num_frames();
    for (const ObjectState& object : objects_) {
      for (int64_t t : object.outputs.cond_frame_outputs.Keys()) {
        start = std::min(start, t);
      }
    }
  }
  const int64_t max_num = max_frames.value_or(num_frames());
  std::vector<int64_t> order;
  if (reverse) {
    const int64_t end = std::max<int64_t>(start - max_num, 0);
    // Reverse tracking from frame 0 has nothing to do, as the reference.
    if (start > 0) {
      for (int64_t t = start; t >= end; --t) order.push_back(t);
    }
  } else {
    const int64_t end = std::min(start + max_num, num_frames() - 1);
    for (int64_t t = start; t <= end; ++t) order.push_back(t);
  }

  for (int64_t frame_idx : order) {
    std::vector<at::Tensor> pred_masks_per_obj;
    for (ObjectState& object : objects_) {
      at::Tensor pred_masks;
      if (const modeling::FrameOutput* cond =
              object.outputs.cond_frame_outputs.Find(frame_idx)) {
        pred_masks = cond->pred_masks;
      } else {
        modeling::FrameOutput out =
            RunSingleFrame(object, frame_idx, /*is_init_cond_frame=*/false,
                           at::Tensor(), reverse, /*run_mem_encoder=*/true);
        pred_masks = out.pred_masks;
        object.outputs.non_cond_frame_outputs.Set(frame_idx, std::move(out));
      }
      object.frames_tracked[frame_idx] = reverse;
      pred_masks_per_obj.push_back(pred_masks);
    }
    const at::Tensor all = pred_masks_per_obj.size() > 1
                               ? at::cat(pred_masks_per_obj, 0)
                               : pred_masks_per_obj[0];
    if (absl::Status s = on_frame(frame_idx, VideoResMasks(all)); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace sam2::inference
