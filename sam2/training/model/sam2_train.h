// SAM2Train: SAM 2 with the prompt simulation of training and evaluation
// (port of the reference training/model/sam2.py). For each clip it decides,
// at random, whether the initial conditioning frames get the ground-truth
// mask, a click or a box, picks the conditioning frames and the frames that
// receive correction clicks, then tracks every frame, sampling correction
// clicks from the error of each prediction.
//
// Randomness: every random choice of the prompt simulation (mask vs points vs
// box, number and choice of conditioning frames and of frames to correct,
// box noise, uniform clicks, sampling clicks from the ground truth) comes
// from ONE generator, a std::mt19937_64 (PromptRng) owned by the module,
// seeded with `seed` (42 like the reference) and reseeded with
// set_seed(). Differs from the reference on purpose: it uses a numpy
// generator for the choices and torch's global generator for the noise, so
// its draws cannot be reproduced; ours repeat exactly for a given seed on any
// device. Dropout and drop path still use LibTorch's generator.
#ifndef SAM2_TRAINING_MODEL_SAM2_TRAIN_H_
#define SAM2_TRAINING_MODEL_SAM2_TRAIN_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "sam2/modeling/sam2_base.h"
#include "sam2/training/model/loss_fns.h"
#include "sam2/training/model/prompt_sampling.h"

namespace sam2::training {

// Every argument of the reference SAM2Train.__init__ (besides SAM2Base's),
// with its defaults.
struct SAM2TrainOptions {
  modeling::SAM2BaseOptions base;
  double prob_to_use_pt_input_for_train = 0.0;
  double prob_to_use_pt_input_for_eval = 0.0;
  // P(box) = P(points) * prob_to_use_box_input.
  double prob_to_use_box_input_for_train = 0.0;
  double prob_to_use_box_input_for_eval = 0.0;
  // Frames that get correction clicks (the first frame included).
  int64_t num_frames_to_correct_for_train = 1;
  int64_t num_frames_to_correct_for_eval = 1;
  // Draw the number of frames to correct from [num_init_cond_frames,
  // num_frames_to_correct].
  bool rand_frames_to_correct_for_train = false;
  bool rand_frames_to_correct_for_eval = false;
  // Initial conditioning frames (the first frame is always one).
  int64_t num_init_cond_frames_for_train = 1;
  int64_t num_init_cond_frames_for_eval = 1;
  // Draw their number from [1, num_init_cond_frames].
  bool rand_init_cond_frames_for_train = true;
  bool rand_init_cond_frames_for_eval = false;
  // Frames that receive correction clicks also become conditioning frames.
  bool add_all_frames_to_correct_as_cond = false;
  // Correction clicks per corrected frame (after the initial click).
  int64_t num_correction_pt_per_frame = 7;
  // Click sampling in eval ("center" like the SAM paper, or "uniform");
  // training always samples uniformly.
  PointSamplingMethod pt_sampling_for_eval = PointSamplingMethod::kCenter;
  // In training, the chance that a correction click is sampled from the
  // ground truth instead of the error region.
  double prob_to_sample_from_gt_for_train = 0.0;
  // Activation checkpointing of the correction steps: accepted for config
  // compatibility; it only saves memory and has no effect here.
  bool use_act_ckpt_iterative_pt_sampling = false;
  // In eval, compute each frame's image features when it is tracked.
  bool forward_backbone_per_frame_for_eval = false;
  bool freeze_image_encoder = false;
  // Seed of the prompt generator.
  uint64_t seed = 42;
};

// One clip (or a batch of clips with the same number of frames): the
// tensors of data::BatchedVideoDatapoint the model uses.
struct TrackingInput {
  at::Tensor img_batch;         // float [T, B, 3, H, W]
  at::Tensor obj_to_frame_idx;  // int [T, O, 2]: (frame, video in batch)
  at::Tensor masks;             // bool [T, O, H, W]

  int64_t num_frames() const { return img_batch.size(0); }
  // int64 [T, O]: each object's image in flat_img_batch().
  at::Tensor flat_obj_to_img_idx() const;
  // [B * T, 3, H, W], video-major.
  at::Tensor flat_img_batch() const;
};

// The prompt decisions for one clip (the reference's additions to
// backbone_out in prepare_prompt_inputs).
struct PromptPlan {
  bool use_pt_input = false;
  std::vector<int64_t> init_cond_frames;
  std::vector<int64_t> frames_not_in_init_cond;
  std::map<int64_t, at::Tensor> mask_inputs_per_frame;  // [O, 1, H, W] bool
  std::map<int64_t, modeling::PointInputs> point_inputs_per_frame;
  std::vector<int64_t> frames_to_add_correction_pt;
  std::vector<at::Tensor> gt_masks_per_frame;  // [O, 1, H, W] bool
  int64_t num_frames = 0;
};

class SAM2TrainImpl : public modeling::SAM2BaseImpl {
 public:
  explicit SAM2TrainImpl(const SAM2TrainOptions& options);

  // Prompts, then tracking: one output per frame, in frame order.
  std::vector<modeling::FrameOutput> forward(const TrackingInput& input);

  // The random prompt decisions (prepare_prompt_inputs).
  PromptPlan prepare_prompt_inputs(const TrackingInput& input,
                                   int64_t start_frame_idx = 0);

  // Tracks every frame with the plan (forward_tracking). `backbone` holds
  // the image features of all of flat_img_batch(), or nullopt to compute
  // each frame's features when it is tracked.
  std::vector<modeling::FrameOutput> forward_tracking(
      const std::optional<modeling::BackboneFeatures>& backbone,
      const PromptPlan& plan, const TrackingInput& input);

  // SAM2Train.track_step: the SAM2Base step, then the correction clicks on
  // frames_to_add_correction_pt, then the memory of the final prediction.
  modeling::FrameOutput track_step_with_corrections(
      int64_t frame_idx, bool is_init_cond_frame,
      const std::vector<at::Tensor>& current_vision_feats,
      const std::vector<at::Tensor>& current_vision_pos_embeds,
      const std::vector<std::array<int64_t, 2>>& feat_sizes,
      const std::optional<modeling::PointInputs>& point_inputs,
      const at::Tensor& mask_inputs, const modeling::OutputDict& output_dict,
      int64_t num_frames,
      const std::vector<int64_t>& frames_to_add_correction_pt,
      const at::Tensor& gt_masks);

  void set_seed(uint64_t seed) { rng_.seed(seed); }
  PromptRng& rng() { return rng_; }
  const SAM2TrainOptions& train_options() const { return train_options_; }
  // The prompt options may change between calls (e.g. evaluating the same
  // model with clicks and with masks); the model options may not.
  SAM2TrainOptions& mutable_train_options() { return train_options_; }

 private:
  // Image features of the unique images among img_ids, mapped back to
  // img_ids (_prepare_backbone_features_per_frame).
  modeling::BackboneFeatures backbone_features_per_frame(
      const at::Tensor& flat_img_batch, const at::Tensor& img_ids);

  SAM2TrainOptions train_options_;
  PromptRng rng_;
};
TORCH_MODULE(SAM2Train);

// The inputs of MultiStepMultiMasksAndIous for a tracked clip.
std::vector<FramePrediction> ToLossInputs(
    const std::vector<modeling::FrameOutput>& outputs);

}  // namespace sam2::training

#endif  // SAM2_TRAINING_MODEL_SAM2_TRAIN_H_
