// Validation by J&F during training: semi-supervised VOS on a DAVIS-layout
// folder with the current weights, as the reference's tools/vos_inference.py
// (the first frame's ground-truth masks in, every frame's masks out) and
// then scored as sav_dataset/sav_evaluator.py scores the written PNGs.
//
// The masks stay in memory: the id map of each frame is what vos_inference
// would write (sam2/inference VosInferenceOptions.frame_sink), read as the
// scorer reads a PNG (palette indices), and scored by eval/'s DAVIS scorer,
// so J, F and J&F equal //jobs:vos_inference + //jobs:sav_eval on the same
// videos (vos_validator_test checks this).
//
// The predictor runs on a copy of the model on `device` (the training
// device), refreshed from the training model at every validation; the
// training model itself is not touched. With `autocast_bf16` the videos run
// under bfloat16 autocast, as the reference's tools/vos_inference.py on a
// GPU (the experiment sets it for CUDA devices).
//
// Under several ranks, each rank runs a disjoint share of the videos
// (distributed/work_split, balanced by frame count); per-object J and F are
// summed into place over ranks (every value is added to zeros only, so the
// result is exact), and every rank computes the same global means in the
// scorer's order (videos by name): the numbers do not depend on the world
// size.
//
// Pictures: for the first `num_pictures` videos of the list, a strip PNG
// <pictures_dir>/epoch_<E>/<video>.png (top row: frames with the predicted
// masks over them, bottom row: with the ground truth), written by the rank
// that ran the video; rank 0 adds them to TensorBoard as images
// (val_pictures/<video>, at step E).
#ifndef SAM2_TRAINING_VALIDATION_VOS_VALIDATOR_H_
#define SAM2_TRAINING_VALIDATION_VOS_VALIDATOR_H_

#include <c10/core/Device.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/codecs/image.h"
#include "distributed/collectives.h"
#include "eval/label_map.h"
#include "eval/video_evaluator.h"
#include "sam2/inference/video_predictor.h"
#include "sam2/modeling/sam2_base.h"
#include "sam2/training/logging/run_log.h"
#include "sam2/training/logging/tensorboard/event_writer.h"
#include "sam2/training/loop/trainer.h"

namespace sam2::training {

// The meters a VOS validation returns.
inline constexpr char kValJ[] = "Meters_val/vos/J";
inline constexpr char kValF[] = "Meters_val/vos/F";
inline constexpr char kValJF[] = "Meters_val/vos/J&F";

struct VosValidationOptions {
  std::string img_folder;     // <video>/<frame>.jpg
  std::string gt_folder;      // <video>/<frame>.png, palettised object ids
  std::string file_list_txt;  // empty: every folder of img_folder
  double score_thresh = 0.0;  // on the output mask logits
  int64_t max_videos = 0;     // the first N of the list; 0: all
  bool skip_first_and_last_frame = true;  // as the scorer's default
  int64_t num_pictures = 2;               // strips per validation
  int64_t picture_max_frames = 8;         // frames per strip
  std::string pictures_dir;               // empty: no pictures
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  bool autocast_bf16 = false;
};

class VosValidator : public Validator {
 public:
  // Lists the videos (and their frames, for the split over ranks) and
  // builds the predictor's model. `source_model` (the training model, any
  // device) must have the state_dict of a SAM2Base of `model_options`.
  // `images` may be null (no TensorBoard images).
  static absl::StatusOr<std::unique_ptr<VosValidator>> Create(
      const VosValidationOptions& options,
      const modeling::SAM2BaseOptions& model_options,
      torch::nn::Module& source_model, distributed::Collectives& world,
      RunLog& log, tensorboard::EventWriter* images);

  absl::StatusOr<std::map<std::string, double>> Validate(
      int64_t epoch) override;

  const std::vector<std::string>& videos() const { return videos_; }
  // The indices into videos() this rank runs.
  const std::vector<size_t>& my_videos() const { return mine_; }
  // The predictor's model (its weights are the training model's as of the
  // last validation).
  const modeling::SAM2Base& predictor_model() const { return model_; }
  // The last validation's per-video results of every rank, by video name.
  const std::vector<eval::VideoResult>& last_results() const {
    return last_results_;
  }

 private:
  VosValidator(VosValidationOptions options, modeling::SAM2Base model,
               int image_size, torch::nn::Module& source_model,
               distributed::Collectives& world, RunLog& log,
               tensorboard::EventWriter* images)
      : options_(std::move(options)),
        model_(std::move(model)),
        image_size_(image_size),
        source_(source_model),
        world_(world),
        log_(log),
        images_(images) {}

  absl::StatusOr<eval::VideoResult> RunVideo(size_t index, int64_t epoch,
                                             inference::VideoPredictor& vp);
  std::string PicturePath(int64_t epoch, const std::string& video) const;

  VosValidationOptions options_;
  modeling::SAM2Base model_;
  int image_size_;
  torch::nn::Module& source_;
  distributed::Collectives& world_;
  RunLog& log_;
  tensorboard::EventWriter* images_;
  std::vector<std::string> videos_;
  std::vector<size_t> mine_;
  std::vector<eval::VideoResult> last_results_;
};

// The strip picture of one video: `frames` (RGB, video size) with `pred`
// over them in the top row and `gt` in the bottom row (object k in the
// DAVIS palette's colour k, half transparent), frames side by side with a
// 2-pixel white gap.
absl::StatusOr<data::Image> OverlayStrip(
    const std::vector<data::Image>& frames,
    const std::vector<const eval::LabelMap*>& pred,
    const std::vector<const eval::LabelMap*>& gt);

// Up to `max_frames` frame indices of 0..num_frames-1, evenly spaced, the
// first and the last included.
std::vector<int64_t> PictureFrames(int64_t num_frames, int64_t max_frames);

}  // namespace sam2::training

#endif  // SAM2_TRAINING_VALIDATION_VOS_VALIDATOR_H_
