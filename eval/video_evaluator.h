// One video scored as the reference's `VideoEvaluator` scores it.
//
// Layouts (told apart as the reference does: a video folder holding only
// `*.png` names is DAVIS layout, anything else is SA-V layout):
//  - SA-V: <root>/<video>/<object>/<frame>.png, one 0/1 (or 0/255) mask per
//    object and frame, read with `> 0`; every object folder is one object.
//  - DAVIS: <root>/<video>/<frame>.png, object ids as values; the objects
//    reported are those of the ground truth.
// Frames are the ground truth's file names, sorted; with skip_first_and_last
// the first and the last are dropped (per object folder in SA-V layout).
// The prediction must have every frame the ground truth has.
#ifndef SAM2_EVAL_VIDEO_EVALUATOR_H_
#define SAM2_EVAL_VIDEO_EVALUATOR_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/label_map.h"
#include "eval/object_scorer.h"

namespace sam2::eval {

struct ObjectResult {
  // The object's key: its folder name (SA-V) or its id in decimal (DAVIS).
  std::string name;
  // The key as results.csv writes it, `f"{key:03}"`.
  std::string label;
  double j = 0;  // percent
  double f = 0;  // percent
};

struct VideoResult {
  std::string name;
  bool sav_layout = false;
  // Reported objects, in the reference's order.
  std::vector<ObjectResult> objects;
  // Every scored object's per-frame lists, by the object's key (in DAVIS
  // layout this includes objects only the prediction has).
  std::map<std::string, ObjectFrames> per_frame;
};

// Scores `video` of gt_root against the same folder of pred_root. Errors
// (missing prediction, unreadable or mismatched PNG, an SA-V object whose
// ground truth is empty on every scored frame) name the file or folder.
absl::StatusOr<VideoResult> EvaluateVideo(const std::string& gt_root,
                                          const std::string& pred_root,
                                          const std::string& video,
                                          bool skip_first_and_last);

// DAVIS layout from label maps in memory, scored exactly as EvaluateVideo
// scores the same maps read from PNGs: `gt` and `pred` are keyed by the
// frame's file name ("00000.png"); the frames are gt's names in byte order
// (as the sorted folder listing), the first and the last dropped with
// skip_first_and_last; `pred` must have every scored frame at the same size.
// Errors name the video and the frame.
absl::StatusOr<VideoResult> EvaluateDavisVideo(
    const std::string& video, const std::map<std::string, LabelMap>& gt,
    const std::map<std::string, LabelMap>& pred, bool skip_first_and_last);

}  // namespace sam2::eval

#endif  // SAM2_EVAL_VIDEO_EVALUATOR_H_
