// Semi-supervised VOS over a folder of videos, as the reference's
// tools/vos_inference.py: the first frame's masks (or every mask with
// use_all_masks) are added to the video predictor, the objects are tracked
// through the video, and each frame's masks (logits > score_thresh) are
// written as PNGs:
//  - DAVIS layout: <out>/<video>/<frame>.png, palettised object ids (lower
//    ids drawn over higher ones), with the input mask's palette (the DAVIS
//    palette when the input has none);
//  - per-object layout (per_obj_png_file): <out>/<video>/<id:03d>/<frame>.png,
//    palettised 0/1, objects may overlap.
// With track_object_appearing_later_in_video each object is tracked on its
// own from the first frame where its mask is non-empty
// (vos_separate_inference_per_object), and the per-object scores (-1024
// where not tracked) are combined per frame, with the non-overlap
// constraint in the DAVIS layout.
//
// Differs from the reference on purpose: a mask whose size differs from the
// video's is an error (the reference would resize it silently).
#ifndef SAM2_INFERENCE_VOS_INFERENCE_H_
#define SAM2_INFERENCE_VOS_INFERENCE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/codecs/image.h"
#include "sam2/inference/video_predictor.h"

namespace sam2::inference {

struct VosInferenceOptions {
  std::string base_video_dir;  // <video>/<frame>.jpg
  std::string input_mask_dir;  // <video>/<frame>.png or <video>/<id>/...
  std::string output_mask_dir;
  double score_thresh = 0.0;
  bool use_all_masks = false;
  bool per_obj_png_file = false;
  bool track_object_appearing_later_in_video = false;
  // DAVIS layout only: when set, each frame's object-id map (1 channel,
  // exactly what would be written as <video>/<frame>.png) is handed to it
  // instead of being written, and output_mask_dir is not used (validation
  // during training scores the maps in memory).
  std::function<absl::Status(const std::string& frame_name,
                             const data::Image& ids)>
      frame_sink;
};

struct VideoRunStats {
  int64_t num_frames = 0;
  int64_t num_objects = 0;
  double seconds = 0.0;  // loading, tracking and writing
};

// The model with its weights from an official-format checkpoint, loaded
// strictly as the reference's build_sam2_video_predictor does (a missing or
// unexpected key is an error naming the file).
absl::StatusOr<modeling::SAM2Base> LoadVideoModel(
    const modeling::SAM2BaseOptions& options, const std::string& checkpoint);

// The videos to run: the lines of `video_list_file` (stripped, as the
// reference reads them; empty lines skipped), or every sub-folder of
// base_video_dir (sorted) when it is empty.
absl::StatusOr<std::vector<std::string>> ListVideos(
    const std::string& base_video_dir, const std::string& video_list_file);

// Runs one video. `predictor` must have been built with non_overlap_masks =
// !per_obj_png_file (as the reference's main()). Errors name the file or
// folder (missing or unreadable frame or mask, size mismatch, no objects).
absl::StatusOr<VideoRunStats> RunVosInferenceOnVideo(
    VideoPredictor& predictor, const VosInferenceOptions& options,
    const std::string& video_name, int image_size);

}  // namespace sam2::inference

#endif  // SAM2_INFERENCE_VOS_INFERENCE_H_
