#include "sam2/inference/video_predictor.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cstdlib>
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

// The stored records of frame `t` of several objects as one batch (the
// tensors that tracking reads, concatenated along the object dimension).
modeling::FrameOutput Concatenate(
    const std::vector<const modeling::FrameOutput*>& records,
    const at::Tensor& maskmem_pos_enc) {
  auto cat = [&](at::Tensor modeling::FrameOutput::*field) {
    if (!(records.front()->*field).defined()) return at::Tensor();
    std::vector<at::Tensor> parts;
    for (const modeling::FrameOutput* r : records) parts.push_back(r->*field);
    return at::cat(parts, 0);
  };
  modeling::FrameOutput batch;
  batch.pred_masks = cat(&modeling::FrameOutput::pred_masks);
  batch.obj_ptr = cat(&modeling::FrameOutput::obj_ptr);
  batch.object_score_logits = cat(&modeling::FrameOutput::object_score_logits);
  batch.maskmem_features = cat(&modeling::FrameOutput::maskmem_features);
  if (batch.maskmem_features.defined()) {
    std::vector<int64_t> sizes = maskmem_pos_enc.sizes().vec();
    sizes[0] = static_cast<int64_t>(records.size());
    batch.maskmem_pos_enc = {maskmem_pos_enc.expand(sizes)};
  }
  return batch;
}

// Row `i` of a batched frame output (the fields a stored record keeps).
modeling::FrameOutput Row(const modeling::FrameOutput& batch, int64_t i) {
  auto row = [i](const at::Tensor& t) {
    return t.defined() ? t.slice(0, i, i + 1) : t;
  };
  modeling::FrameOutput out;
  out.pred_masks = row(batch.pred_masks);
  out.obj_ptr = row(batch.obj_ptr);
  out.object_score_logits = row(batch.object_score_logits);
  out.maskmem_features = row(batch.maskmem_features);
  for (const at::Tensor& enc : batch.maskmem_pos_enc) {
    out.maskmem_pos_enc.push_back(row(enc));
  }
  return out;
}

// Features of one image repeated for `batch` objects (views, no copies):
// [HW, 1, C] -> [HW, batch, C].
std::vector<at::Tensor> Repeat(const std::vector<at::Tensor>& seq_first,
                               int64_t batch) {
  std::vector<at::Tensor> out;
  for (const at::Tensor& t : seq_first) out.push_back(t.expand({-1, batch, -1}));
  return out;
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
  tracking_calls_ = 0;
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

int64_t VideoPredictor::MemoryReach() const {
  // Spatial memories: the frame right before and num_maskmem - 2 more, a
  // stride apart; object pointers: up to max_obj_ptrs_in_encoder - 1 frames.
  const modeling::SAM2BaseOptions& o = model_->options();
  const int64_t stride = std::max<int64_t>(o.memory_temporal_stride_for_eval, 1);
  return std::max(o.num_maskmem * stride + 2, o.max_obj_ptrs_in_encoder);
}

std::vector<std::vector<size_t>> VideoPredictor::BatchesToTrack(
    const std::vector<size_t>& to_track, int64_t frame_idx) const {
  const modeling::SAM2BaseOptions& o = model_->options();
  std::vector<std::vector<size_t>> batches;
  if (!options_.batch_objects || o.non_overlap_masks_for_mem_enc) {
    for (size_t i : to_track) batches.push_back({i});
    return batches;
  }
  const int64_t reach = MemoryReach();
  auto signature = [&](size_t i) {
    const modeling::OutputDict& outputs = objects_[i].outputs;
    std::vector<int64_t> key = outputs.cond_frame_outputs.Keys();
    key.push_back(-1);  // separates the two lists
    std::vector<int64_t> near;
    for (int64_t t : outputs.non_cond_frame_outputs.Keys()) {
      if (std::abs(t - frame_idx) <= reach) near.push_back(t);
    }
    std::sort(near.begin(), near.end());
    key.insert(key.end(), near.begin(), near.end());
    return key;
  };
  std::vector<std::vector<int64_t>> signatures;
  for (size_t i : to_track) {
    const std::vector<int64_t> key = signature(i);
    const auto it = std::find(signatures.begin(), signatures.end(), key);
    if (it == signatures.end()) {
      signatures.push_back(key);
      batches.push_back({i});
    } else {
      batches[it - signatures.begin()].push_back(i);
    }
  }
  return batches;
}

std::vector<modeling::FrameOutput> VideoPredictor::TrackBatch(
    const std::vector<size_t>& group, int64_t frame_idx, bool reverse) {
  if (group.size() == 1) {
    return {RunSingleFrame(objects_[group[0]], frame_idx,
                           /*is_init_cond_frame=*/false, at::Tensor(), reverse,
                           /*run_mem_encoder=*/true)};
  }
  // The batch's stored records: every conditioning frame (the same frames,
  // in the same order, for every object of the group) and the tracked
  // frames near this one (BatchesToTrack).
  const int64_t batch = static_cast<int64_t>(group.size());
  const modeling::OutputDict& first = objects_[group[0]].outputs;
  modeling::OutputDict batched;
  auto gather = [&](bool is_cond, int64_t t) {
    std::vector<const modeling::FrameOutput*> records;
    for (size_t i : group) {
      const modeling::OutputDict& outputs = objects_[i].outputs;
      records.push_back((is_cond ? outputs.cond_frame_outputs
                                 : outputs.non_cond_frame_outputs)
                            .Find(t));
    }
    return Concatenate(records, maskmem_pos_enc_);
  };
  for (int64_t t : first.cond_frame_outputs.Keys()) {
    batched.cond_frame_outputs.Set(t, gather(true, t));
  }
  const int64_t reach = MemoryReach();
  for (int64_t t : first.non_cond_frame_outputs.Keys()) {
    if (std::abs(t - frame_idx) <= reach) {
      batched.non_cond_frame_outputs.Set(t, gather(false, t));
    }
  }
  const modeling::BackboneFeatures& features = ImageFeatures(frame_idx);
  modeling::FrameOutput out = model_->track_step(
      frame_idx, /*is_init_cond_frame=*/false,
      Repeat(features.vision_feats, batch),
      Repeat(features.vision_pos_embeds, batch), features.feat_sizes,
      /*point_inputs=*/std::nullopt, at::Tensor(), batched, num_frames(),
      reverse, /*run_mem_encoder=*/true);
  if (options_.fill_hole_area > 0) {
    out.pred_masks =
        FillHolesInMaskScores(out.pred_masks, options_.fill_hole_area);
  }
  std::vector<modeling::FrameOutput> records;
  for (int64_t i = 0; i < batch; ++i) records.push_back(Compact(Row(out, i)));
  return records;
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
    std::vector<at::Tensor> pred_masks_per_obj(objects_.size());
    std::vector<size_t> to_track;
    for (size_t i = 0; i < objects_.size(); ++i) {
      if (const modeling::FrameOutput* cond =
              objects_[i].outputs.cond_frame_outputs.Find(frame_idx)) {
        pred_masks_per_obj[i] = cond->pred_masks;
      } else {
        to_track.push_back(i);
      }
    }
    for (const std::vector<size_t>& group :
         BatchesToTrack(to_track, frame_idx)) {
      ++tracking_calls_;
      std::vector<modeling::FrameOutput> outs =
          TrackBatch(group, frame_idx, reverse);
      for (size_t k = 0; k < group.size(); ++k) {
        pred_masks_per_obj[group[k]] = outs[k].pred_masks;
        objects_[group[k]].outputs.non_cond_frame_outputs.Set(
            frame_idx, std::move(outs[k]));
      }
    }
    for (ObjectState& object : objects_) object.frames_tracked[frame_idx] = reverse;
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
