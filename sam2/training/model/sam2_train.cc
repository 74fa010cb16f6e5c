#include "sam2/training/model/sam2_train.h"

#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <utility>

namespace sam2::training {

using modeling::BackboneFeatures;
using modeling::FrameOutput;
using modeling::OutputDict;
using modeling::PointInputs;
using modeling::SamHeadOutputs;

namespace {

bool Contains(const std::vector<int64_t>& values, int64_t value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

PointInputs ToPointInputs(const PointPrompt& points) {
  return {points.coords, points.labels};
}

// concat_points: new points appended after the old ones (if any).
PointInputs ConcatPointInputs(const std::optional<PointInputs>& old_points,
                              const PointPrompt& new_points) {
  if (!old_points.has_value()) return ToPointInputs(new_points);
  return {at::cat({old_points->point_coords, new_points.coords}, 1),
          at::cat({old_points->point_labels, new_points.labels}, 1)};
}

// x[:, ids] of a sequence-first (HW)NC feature map, as a contiguous tensor.
// prepare_backbone_features makes these as views of NCHW maps, and
// index_select along dim 1 of such a view first copies the whole map (all
// frames) into (HW)NC order; selecting the images in NCHW order copies only
// the selected ones. The same values either way.
at::Tensor SelectImages(const at::Tensor& seq_first, const at::Tensor& ids) {
  const at::Tensor image_first = seq_first.permute({1, 2, 0});
  if (!image_first.is_contiguous()) return seq_first.index_select(1, ids);
  return image_first.index_select(0, ids).permute({2, 0, 1}).contiguous();
}

}  // namespace

at::Tensor TrackingInput::flat_obj_to_img_idx() const {
  const at::Tensor frame = obj_to_frame_idx.select(-1, 0).to(at::kLong);
  const at::Tensor video = obj_to_frame_idx.select(-1, 1).to(at::kLong);
  return video * num_frames() + frame;
}

at::Tensor TrackingInput::flat_img_batch() const {
  return img_batch.transpose(0, 1).flatten(0, 1);
}

SAM2TrainImpl::SAM2TrainImpl(const SAM2TrainOptions& options)
    : modeling::SAM2BaseImpl(options.base),
      train_options_(options),
      rng_(options.seed) {
  const SAM2TrainOptions& o = train_options_;
  if (o.prob_to_use_pt_input_for_train > 0 ||
      o.prob_to_use_pt_input_for_eval > 0) {
    TORCH_CHECK(
        o.num_frames_to_correct_for_train >= o.num_init_cond_frames_for_train,
        "num_frames_to_correct_for_train must be >= "
        "num_init_cond_frames_for_train");
    TORCH_CHECK(
        o.num_frames_to_correct_for_eval >= o.num_init_cond_frames_for_eval,
        "num_frames_to_correct_for_eval must be >= "
        "num_init_cond_frames_for_eval");
  }
  if (o.freeze_image_encoder) {
    for (at::Tensor& p : image_encoder->parameters())
      p.set_requires_grad(false);
  }
}

std::vector<FrameOutput> SAM2TrainImpl::forward(const TrackingInput& input) {
  std::optional<BackboneFeatures> backbone;
  if (is_training() || !train_options_.forward_backbone_per_frame_for_eval) {
    // All frames' image features before tracking.
    backbone = prepare_backbone_features(forward_image(input.flat_img_batch()));
  }
  const PromptPlan plan = prepare_prompt_inputs(input);
  return forward_tracking(backbone, plan, input);
}

PromptPlan SAM2TrainImpl::prepare_prompt_inputs(const TrackingInput& input,
                                                int64_t start_frame_idx) {
  const SAM2TrainOptions& o = train_options_;
  PromptPlan plan;
  plan.num_frames = input.num_frames();
  for (int64_t t = 0; t < plan.num_frames; ++t) {
    plan.gt_masks_per_frame.push_back(input.masks[t].unsqueeze(1));
  }

  const bool training = is_training();
  double prob_to_use_pt_input = training ? o.prob_to_use_pt_input_for_train
                                         : o.prob_to_use_pt_input_for_eval;
  const double prob_to_use_box_input = training
                                           ? o.prob_to_use_box_input_for_train
                                           : o.prob_to_use_box_input_for_eval;
  int64_t num_frames_to_correct = training ? o.num_frames_to_correct_for_train
                                           : o.num_frames_to_correct_for_eval;
  const bool rand_frames_to_correct = training
                                          ? o.rand_frames_to_correct_for_train
                                          : o.rand_frames_to_correct_for_eval;
  int64_t num_init_cond_frames = training ? o.num_init_cond_frames_for_train
                                          : o.num_init_cond_frames_for_eval;
  const bool rand_init_cond_frames = training
                                         ? o.rand_init_cond_frames_for_train
                                         : o.rand_init_cond_frames_for_eval;
  if (plan.num_frames == 1) {
    // Images (SAM training mixed into video training): always clicks.
    prob_to_use_pt_input = 1.0;
    num_frames_to_correct = 1;
    num_init_cond_frames = 1;
  }
  TORCH_CHECK(num_init_cond_frames >= 1, "num_init_cond_frames must be >= 1");

  plan.use_pt_input = Uniform01(rng_) < prob_to_use_pt_input;
  if (rand_init_cond_frames && num_init_cond_frames > 1) {
    num_init_cond_frames = UniformInt(rng_, 1, num_init_cond_frames);
  }
  if (plan.use_pt_input && rand_frames_to_correct &&
      num_frames_to_correct > num_init_cond_frames) {
    num_frames_to_correct =
        UniformInt(rng_, num_init_cond_frames, num_frames_to_correct);
  }

  // The starting frame, then other frames at random. Differs from the
  // reference on purpose: a clip shorter than the requested number of
  // conditioning frames uses all its frames instead of failing.
  plan.init_cond_frames = {start_frame_idx};
  if (num_init_cond_frames > 1) {
    std::vector<int64_t> rest;
    for (int64_t t = start_frame_idx + 1; t < plan.num_frames; ++t) {
      rest.push_back(t);
    }
    const int64_t k = std::min<int64_t>(num_init_cond_frames - 1,
                                        static_cast<int64_t>(rest.size()));
    for (int64_t t : ChooseWithoutReplacement(rng_, rest, k)) {
      plan.init_cond_frames.push_back(t);
    }
  }
  num_init_cond_frames = static_cast<int64_t>(plan.init_cond_frames.size());
  for (int64_t t = start_frame_idx; t < plan.num_frames; ++t) {
    if (!Contains(plan.init_cond_frames, t)) {
      plan.frames_not_in_init_cond.push_back(t);
    }
  }

  const PointSamplingMethod method =
      training ? PointSamplingMethod::kUniform : o.pt_sampling_for_eval;
  for (int64_t t : plan.init_cond_frames) {
    const at::Tensor& gt = plan.gt_masks_per_frame[t];
    if (!plan.use_pt_input) {
      plan.mask_inputs_per_frame[t] = gt;
      continue;
    }
    // P(box) = P(points) * prob_to_use_box_input. Otherwise one click from
    // the ground truth; the corrections come later, on the fly.
    const bool use_box_input = Uniform01(rng_) < prob_to_use_box_input;
    const PointPrompt points =
        use_box_input ? SampleBoxPoints(gt, rng_)
                      : GetNextPoint(gt, at::Tensor(), method, rng_);
    plan.point_inputs_per_frame[t] = ToPointInputs(points);
  }

  if (!plan.use_pt_input) {
    // Mask prompts get no correction clicks.
  } else if (num_frames_to_correct <= num_init_cond_frames) {
    plan.frames_to_add_correction_pt = plan.init_cond_frames;
  } else {
    plan.frames_to_add_correction_pt = plan.init_cond_frames;
    const int64_t extra = std::min<int64_t>(
        num_frames_to_correct - num_init_cond_frames,
        static_cast<int64_t>(plan.frames_not_in_init_cond.size()));
    for (int64_t t :
         ChooseWithoutReplacement(rng_, plan.frames_not_in_init_cond, extra)) {
      plan.frames_to_add_correction_pt.push_back(t);
    }
  }
  return plan;
}

BackboneFeatures SAM2TrainImpl::backbone_features_per_frame(
    const at::Tensor& flat_img_batch, const at::Tensor& img_ids) {
  // Each distinct image once.
  at::Tensor unique_ids = img_ids;
  at::Tensor inverse;
  if (img_ids.numel() > 1) {
    std::tie(unique_ids, inverse, std::ignore) =
        at::_unique2(img_ids, /*sorted=*/true, /*return_inverse=*/true,
                     /*return_counts=*/false);
  }
  const at::Tensor images = flat_img_batch.index_select(0, unique_ids);
  BackboneFeatures features = prepare_backbone_features(forward_image(images));
  if (inverse.defined()) {
    for (at::Tensor& x : features.vision_feats) x = SelectImages(x, inverse);
    for (at::Tensor& x : features.vision_pos_embeds) {
      x = SelectImages(x, inverse);
    }
  }
  return features;
}

std::vector<FrameOutput> SAM2TrainImpl::forward_tracking(
    const std::optional<BackboneFeatures>& backbone, const PromptPlan& plan,
    const TrackingInput& input) {
  const at::Tensor img_ids_per_frame =
      input.flat_obj_to_img_idx().to(input.img_batch.device());
  at::Tensor flat_images;
  if (!backbone.has_value()) flat_images = input.flat_img_batch();

  // Initial conditioning frames first (they become the memory the other
  // frames are tracked from), then the rest in order.
  std::vector<int64_t> processing_order = plan.init_cond_frames;
  processing_order.insert(processing_order.end(),
                          plan.frames_not_in_init_cond.begin(),
                          plan.frames_not_in_init_cond.end());
  OutputDict output_dict;
  for (int64_t stage_id : processing_order) {
    const at::Tensor img_ids = img_ids_per_frame[stage_id];
    BackboneFeatures current;
    if (backbone.has_value()) {
      current.feat_sizes = backbone->feat_sizes;
      for (const at::Tensor& x : backbone->vision_feats) {
        current.vision_feats.push_back(SelectImages(x, img_ids));
      }
      for (const at::Tensor& x : backbone->vision_pos_embeds) {
        current.vision_pos_embeds.push_back(SelectImages(x, img_ids));
      }
    } else {
      current = backbone_features_per_frame(flat_images, img_ids);
    }

    std::optional<PointInputs> point_inputs;
    if (auto it = plan.point_inputs_per_frame.find(stage_id);
        it != plan.point_inputs_per_frame.end()) {
      point_inputs = it->second;
    }
    at::Tensor mask_inputs;
    if (auto it = plan.mask_inputs_per_frame.find(stage_id);
        it != plan.mask_inputs_per_frame.end()) {
      mask_inputs = it->second;
    }
    const bool is_init_cond_frame = Contains(plan.init_cond_frames, stage_id);
    FrameOutput current_out = track_step_with_corrections(
        stage_id, is_init_cond_frame, current.vision_feats,
        current.vision_pos_embeds, current.feat_sizes, point_inputs,
        mask_inputs, output_dict, plan.num_frames,
        plan.frames_to_add_correction_pt, plan.gt_masks_per_frame[stage_id]);
    const bool add_as_cond_frame =
        is_init_cond_frame ||
        (train_options_.add_all_frames_to_correct_as_cond &&
         Contains(plan.frames_to_add_correction_pt, stage_id));
    if (add_as_cond_frame) {
      output_dict.cond_frame_outputs.Set(stage_id, std::move(current_out));
    } else {
      output_dict.non_cond_frame_outputs.Set(stage_id, std::move(current_out));
    }
  }

  std::vector<FrameOutput> outputs;
  outputs.reserve(static_cast<size_t>(plan.num_frames));
  for (int64_t t = 0; t < plan.num_frames; ++t) {
    const FrameOutput* out = output_dict.cond_frame_outputs.Find(t);
    if (out == nullptr) out = output_dict.non_cond_frame_outputs.Find(t);
    TORCH_CHECK(out != nullptr, "frame ", t, " was not tracked");
    outputs.push_back(*out);
  }
  return outputs;
}

FrameOutput SAM2TrainImpl::track_step_with_corrections(
    int64_t frame_idx, bool is_init_cond_frame,
    const std::vector<at::Tensor>& current_vision_feats,
    const std::vector<at::Tensor>& current_vision_pos_embeds,
    const std::vector<std::array<int64_t, 2>>& feat_sizes,
    const std::optional<PointInputs>& point_inputs,
    const at::Tensor& mask_inputs, const OutputDict& output_dict,
    int64_t num_frames, const std::vector<int64_t>& frames_to_add_correction_pt,
    const at::Tensor& gt_masks) {
  modeling::TrackStepResult step = track_step_core(
      frame_idx, is_init_cond_frame, current_vision_feats,
      current_vision_pos_embeds, feat_sizes, point_inputs, mask_inputs,
      output_dict, num_frames, /*track_in_reverse=*/false,
      /*prev_sam_mask_logits=*/at::Tensor());
  FrameOutput& out = step.current_out;
  SamHeadOutputs sam = step.sam_outputs;
  std::vector<at::Tensor> all_masks = {sam.low_res_masks};
  std::vector<at::Tensor> all_high_res_masks = {sam.high_res_masks};
  out.multistep_pred_multimasks = {sam.low_res_multimasks};
  out.multistep_pred_multimasks_high_res = {sam.high_res_multimasks};
  out.multistep_pred_ious = {sam.ious};
  out.multistep_point_inputs = {point_inputs};
  out.multistep_object_score_logits = {sam.object_score_logits};

  std::optional<PointInputs> points = point_inputs;
  if (Contains(frames_to_add_correction_pt, frame_idx)) {
    TORCH_CHECK(gt_masks.defined(), "correction clicks need the GT masks");
    const SAM2TrainOptions& o = train_options_;
    const bool training = is_training();
    const PointSamplingMethod method =
        training ? PointSamplingMethod::kUniform : o.pt_sampling_for_eval;
    // Each click corrects the previous step's prediction.
    for (int64_t i = 0; i < o.num_correction_pt_per_frame; ++i) {
      // Sometimes (training only) a click from the GT instead of the error.
      const bool sample_from_gt =
          training && o.prob_to_sample_from_gt_for_train > 0 &&
          Uniform01(rng_) < o.prob_to_sample_from_gt_for_train;
      const at::Tensor pred_for_new_pt =
          sample_from_gt ? at::Tensor() : sam.high_res_masks > 0;
      PointPrompt new_points;
      {
        RECORD_USER_SCOPE("sam2::sample_correction_point");
        new_points = GetNextPoint(gt_masks, pred_for_new_pt, method, rng_);
      }
      points = ConcatPointInputs(points, new_points);
      // The previous low-res logits go in with the clicks, as when a user
      // corrects a tracked mask.
      const bool multimask = use_multimask(is_init_cond_frame, points);
      sam = forward_sam_heads(step.pix_feat, points, sam.low_res_masks,
                              step.high_res_features, multimask);
      all_masks.push_back(sam.low_res_masks);
      all_high_res_masks.push_back(sam.high_res_masks);
      out.multistep_pred_multimasks.push_back(sam.low_res_multimasks);
      out.multistep_pred_multimasks_high_res.push_back(sam.high_res_multimasks);
      out.multistep_pred_ious.push_back(sam.ious);
      out.multistep_point_inputs.push_back(points);
      out.multistep_object_score_logits.push_back(sam.object_score_logits);
    }
  }
  out.multistep_pred_masks = at::cat(all_masks, 1);
  out.multistep_pred_masks_high_res = at::cat(all_high_res_masks, 1);

  // The final prediction is the output, and what the memory is made of.
  out.pred_masks = sam.low_res_masks;
  out.pred_masks_high_res = sam.high_res_masks;
  out.obj_ptr = sam.obj_ptr;
  out.object_score_logits = sam.object_score_logits;
  encode_memory_in_output(current_vision_feats, feat_sizes, points.has_value(),
                          /*run_mem_encoder=*/true, sam.high_res_masks,
                          sam.object_score_logits, out);
  return std::move(out);
}

std::vector<FramePrediction> ToLossInputs(
    const std::vector<FrameOutput>& outputs) {
  std::vector<FramePrediction> frames;
  frames.reserve(outputs.size());
  for (const FrameOutput& out : outputs) {
    FramePrediction steps;
    for (size_t s = 0; s < out.multistep_pred_ious.size(); ++s) {
      steps.push_back({out.multistep_pred_multimasks_high_res[s],
                       out.multistep_pred_ious[s],
                       out.multistep_object_score_logits[s]});
    }
    frames.push_back(std::move(steps));
  }
  return frames;
}

}  // namespace sam2::training
