// The reference's SAM2VideoPredictor (sam2/sam2_video_predictor.py) for
// semi-supervised VOS: masks are added on their frames, then propagated
// forward (or backward) through the video. As in the reference:
//  - every object is tracked on its own (its own memories and pointers),
//    all objects of a frame sharing that frame's image features (the most
//    recent frame's features are cached);
//  - a frame's stored record is the compact one of _run_single_frame_inference:
//    low-res mask logits, object pointer, object score, and the memory
//    features cast to bfloat16, which is what later frames attend to;
//  - memories of frames with a new mask are encoded when propagation starts
//    (propagate_in_video_preflight), from the mask logits upsampled to the
//    model's input size;
//  - the output masks are the low-res logits upsampled (bilinear) to the
//    video size, with the non-overlap constraint across objects when
//    `non_overlap_masks` is set;
//  - with fill_hole_area > 0, each frame's low-res mask logits have their
//    small background holes filled before they are stored and output (the
//    memory encoded while tracking a frame sees the unfilled logits; the
//    memory of a mask prompt, encoded later from the stored logits, sees
//    the filled ones).
// The predictor runs on the model's device (that of its first parameter):
// frames and masks go there, every stored record stays there (the
// reference's default storage_device), and the masks handed to
// PropagateInVideo's callback are on it too. Mixed precision is the
// caller's, as in the reference, whose tools/vos_inference.py wraps the
// predictor in torch.autocast("cuda", bfloat16): an autocast scope around
// AddNewMask and PropagateInVideo.
// Points and boxes and object removal are not implemented.
#ifndef SAM2_INFERENCE_VIDEO_PREDICTOR_H_
#define SAM2_INFERENCE_VIDEO_PREDICTOR_H_

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "sam2/inference/frame_loader.h"
#include "sam2/modeling/sam2_base.h"

namespace sam2::inference {

// The SAM2VideoPredictor.__init__ arguments beyond SAM2Base's.
struct VideoPredictorOptions {
  // Keep only the highest-scoring object at each output pixel.
  bool non_overlap_masks = false;
  // A mask added on an already tracked frame becomes a conditioning frame.
  bool add_all_frames_to_correct_as_cond = false;
  // Fill background holes of at most this many pixels in the low-res mask
  // logits (0: off). See FillHolesInMaskScores: unlike the reference on a
  // CPU without its CUDA extension, this also runs on the CPU.
  int64_t fill_hole_area = 0;
  // Differs from the reference on purpose (when true): the objects that
  // propagation tracks on a frame go through the model as one batch when
  // their memories come from the same frames (same conditioning frames in
  // the same order, same tracked frames within reach of the memory and the
  // object pointers). Each object still attends to its own memories only,
  // so the results are the reference's one-object-at-a-time results up to
  // float rounding (larger matrix products sum in other blocks); the batch
  // saves the per-call overhead of small products. false: one object per
  // forward pass, as the reference. Not batched when the model applies
  // non_overlap_masks_for_mem_enc (that constraint works across the batch).
  bool batch_objects = true;
};

// The overrides of the reference's build_sam2_video_predictor with
// apply_postprocessing=True (what --apply_postprocessing of vos_inference
// turns on), set on the model's options before the model is built and on
// the predictor's options: the mask decoder falls back to its best
// multimask output when the single mask is unstable (dynamic multimask via
// stability, delta 0.05, threshold 0.98); memories of prompted frames are
// encoded from the binarised mask (for mask prompts too: their memories are
// encoded as "from points" when propagation starts); holes of up to 8
// low-res pixels are filled.
void SetPostprocessingOptions(modeling::SAM2BaseOptions* model,
                              VideoPredictorOptions* predictor);

class VideoPredictor {
 public:
  // `model` must hold its weights; it is put in eval mode.
  VideoPredictor(modeling::SAM2Base model, VideoPredictorOptions options);

  // init_state: takes the frames (see LoadVideoFrames) and clears every
  // object.
  void InitState(VideoFrames frames);
  // reset_state: clears the objects, their prompts and results; the frames
  // and the cached image features stay.
  void ResetState();

  // add_new_mask: `mask` bool (or 0/1) [H, W] at any size (resized to the
  // model's input size with antialiased bilinear and >= 0.5, as the
  // reference). New object ids get the next object index.
  absl::Status AddNewMask(int64_t frame_idx, int64_t obj_id,
                          const at::Tensor& mask);

  // propagate_in_video: tracks from `start_frame_idx` (default: the first
  // conditioning frame of any object) over at most `max_frames` frames
  // (default: all), calling `on_frame(frame_idx, video_res_masks)` for each,
  // with video_res_masks float [num_objects, 1, video_height, video_width]
  // (objects in obj_ids() order). An error from on_frame stops tracking and
  // is returned.
  using FrameCallback = std::function<absl::Status(int64_t, const at::Tensor&)>;
  absl::Status PropagateInVideo(const FrameCallback& on_frame,
                                std::optional<int64_t> start_frame_idx = {},
                                std::optional<int64_t> max_frames = {},
                                bool reverse = false);

  const std::vector<int64_t>& obj_ids() const { return obj_ids_; }
  int64_t num_frames() const { return frames_.frame_names.size(); }
  const VideoFrames& frames() const { return frames_; }
  // How many times propagation ran the model's track_step since InitState
  // (one call per batch of objects; see batch_objects).
  int64_t tracking_calls() const { return tracking_calls_; }
  // Where the model, the features and the records are.
  const c10::Device& device() const { return device_; }

  // The stored records of an object (obj_idx order), after propagation:
  // cond_frame_outputs / non_cond_frame_outputs with pred_masks,
  // object_score_logits, obj_ptr and bfloat16 maskmem_features.
  const modeling::OutputDict& object_outputs(size_t obj_idx) const {
    return objects_[obj_idx].outputs;
  }
  // The memory position encoding (the same for every frame and object);
  // undefined before any memory was encoded.
  const at::Tensor& maskmem_pos_enc() const { return maskmem_pos_enc_; }

  // _apply_non_overlapping_constraints on [N, 1, H, W] scores.
  at::Tensor ApplyNonOverlappingConstraints(const at::Tensor& scores) const;

 private:
  struct ObjectState {
    modeling::OutputDict outputs;
    // Outputs of frames with a new mask, not yet consolidated (their
    // memories are encoded by the preflight).
    modeling::OutputDict temp_outputs;
    std::map<int64_t, bool> frames_tracked;  // frame -> tracked in reverse
  };

  const modeling::BackboneFeatures& ImageFeatures(int64_t frame_idx);
  // _run_single_frame_inference for one object.
  modeling::FrameOutput RunSingleFrame(ObjectState& object, int64_t frame_idx,
                                       bool is_init_cond_frame,
                                       const at::Tensor& mask_inputs,
                                       bool reverse, bool run_mem_encoder);
  // The records of `group` (object indices) tracked on `frame_idx` in one
  // batch, split back into one record per object (group order).
  std::vector<modeling::FrameOutput> TrackBatch(
      const std::vector<size_t>& group, int64_t frame_idx, bool reverse);
  // How many frames away from the tracked frame gather_memories may look
  // for tracked frames' memories and object pointers (an upper bound).
  int64_t MemoryReach() const;
  // The objects of `to_track` split into batches that can be tracked
  // together on `frame_idx` (see batch_objects).
  std::vector<std::vector<size_t>> BatchesToTrack(
      const std::vector<size_t>& to_track, int64_t frame_idx) const;
  // The record as stored: bf16 memory, the shared position encoding.
  modeling::FrameOutput Compact(modeling::FrameOutput out);
  absl::Status Preflight();
  at::Tensor VideoResMasks(const at::Tensor& low_res_masks) const;

  modeling::SAM2Base model_;
  VideoPredictorOptions options_;
  c10::Device device_ = c10::Device(c10::DeviceType::CPU);
  VideoFrames frames_;
  std::vector<int64_t> obj_ids_;  // obj_idx -> obj_id
  std::vector<ObjectState> objects_;
  int64_t cached_frame_ = -1;
  int64_t tracking_calls_ = 0;
  modeling::BackboneFeatures cached_features_;
  at::Tensor maskmem_pos_enc_;
};

}  // namespace sam2::inference

#endif  // SAM2_INFERENCE_VIDEO_PREDICTOR_H_
