#include "eval/video_evaluator.h"

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "eval/folders.h"
#include "eval/label_map.h"
#include "eval/report.h"

namespace sam2::eval {
namespace {

// One Evaluator's worth of work: a video folder (DAVIS) or an object folder
// (SA-V).
struct FolderToScore {
  std::vector<std::string> frames;
  std::string object;  // the object folder's name; empty in DAVIS layout
  std::string gt_dir;
  std::string pred_dir;
};

struct ScanResult {
  std::vector<FolderToScore> folders;
  bool sav_layout = false;
};

absl::StatusOr<ScanResult> ScanVideo(const std::string& gt_root,
                                     const std::string& pred_root,
                                     const std::string& video) {
  const std::string gt_dir = PathJoin(gt_root, video);
  const std::string pred_dir = PathJoin(pred_root, video);
  SAM2_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirSorted(gt_dir));
  ScanResult scan;
  scan.sav_layout = !std::all_of(names.begin(), names.end(), [](auto& name) {
    return absl::EndsWith(name, ".png");
  });
  if (!scan.sav_layout) {
    scan.folders.push_back({std::move(names), "", gt_dir, pred_dir});
    return scan;
  }
  for (const std::string& object : names) {
    FolderToScore folder{
        {}, object, PathJoin(gt_dir, object), PathJoin(pred_dir, object)};
    SAM2_ASSIGN_OR_RETURN(folder.frames, ListDirSorted(folder.gt_dir));
    scan.folders.push_back(std::move(folder));
  }
  return scan;
}

absl::Status FeedFrame(const FolderToScore& folder, const std::string& frame,
                       bool sav_layout, ObjectScorer* scorer) {
  const std::string gt_path = PathJoin(folder.gt_dir, frame);
  const std::string pred_path = PathJoin(folder.pred_dir, frame);
  std::error_code error;
  if (!std::filesystem::exists(pred_path, error)) {
    return absl::NotFoundError(
        absl::StrCat(pred_path, ": not found (the ground truth has ", gt_path,
                     "; the prediction must have every ground-truth frame)"));
  }
  SAM2_ASSIGN_OR_RETURN(LabelMap gt, ReadLabelPng(gt_path));
  SAM2_ASSIGN_OR_RETURN(LabelMap pred, ReadLabelPng(pred_path));
  if (gt.height != pred.height || gt.width != pred.width) {
    return absl::InvalidArgumentError(absl::StrCat(
        pred_path, ": size mismatch: the prediction is ", pred.height, "x",
        pred.width, " (HxW) but the ground truth ", gt_path, " is ", gt.height,
        "x", gt.width));
  }
  if (sav_layout) {
    SAM2_RETURN_IF_ERROR(BinarizeSavMask(gt_path, &gt));
    SAM2_RETURN_IF_ERROR(BinarizeSavMask(pred_path, &pred));
  }
  scorer->FeedFrame(pred, gt, frame);
  return absl::OkStatus();
}

// Python's all_frames[1:-1]: empty for two frames or fewer.
std::vector<std::string> ScoredFrames(std::vector<std::string> frames,
                                      bool skip_first_and_last) {
  if (!skip_first_and_last) return frames;
  return frames.size() <= 2
             ? std::vector<std::string>()
             : std::vector<std::string>(frames.begin() + 1, frames.end() - 1);
}

absl::StatusOr<ObjectScorer> ScoreFolder(const FolderToScore& folder,
                                         bool sav_layout,
                                         bool skip_first_and_last) {
  ObjectScorer scorer;
  for (const std::string& frame :
       ScoredFrames(folder.frames, skip_first_and_last)) {
    SAM2_RETURN_IF_ERROR(FeedFrame(folder, frame, sav_layout, &scorer));
  }
  return scorer;
}

// SA-V: one object per folder; the reference asserts that the folder's
// ground truth has it on some scored frame.
absl::Status AddSavObject(const FolderToScore& folder,
                          const ObjectScorer& scorer, VideoResult* result) {
  const std::vector<ObjectMean> means = scorer.Conclude();
  if (means.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        folder.gt_dir,
        ": the ground truth is empty on every scored frame; the reference "
        "scorer cannot score such an object (it asserts one result per "
        "object folder)"));
  }
  result->objects.push_back({folder.object, ObjectLabel(folder.object, false),
                             means[0].j, means[0].f});
  for (const auto& [id, lists] : scorer.per_frame()) {
    result->per_frame[folder.object] = lists;
  }
  return absl::OkStatus();
}

void AddDavisObjects(const ObjectScorer& scorer, VideoResult* result) {
  for (const ObjectMean& mean : scorer.Conclude()) {
    const std::string name = std::to_string(mean.id);
    result->objects.push_back({name, ObjectLabel(name, true), mean.j, mean.f});
  }
  for (const auto& [id, lists] : scorer.per_frame()) {
    result->per_frame[std::to_string(id)] = lists;
  }
}

}  // namespace

absl::StatusOr<VideoResult> EvaluateVideo(const std::string& gt_root,
                                          const std::string& pred_root,
                                          const std::string& video,
                                          bool skip_first_and_last) {
  SAM2_ASSIGN_OR_RETURN(ScanResult scan, ScanVideo(gt_root, pred_root, video));
  VideoResult result;
  result.name = video;
  result.sav_layout = scan.sav_layout;
  for (const FolderToScore& folder : scan.folders) {
    SAM2_ASSIGN_OR_RETURN(
        ObjectScorer scorer,
        ScoreFolder(folder, scan.sav_layout, skip_first_and_last));
    if (scan.sav_layout) {
      SAM2_RETURN_IF_ERROR(AddSavObject(folder, scorer, &result));
    } else {
      AddDavisObjects(scorer, &result);
    }
  }
  return result;
}

absl::StatusOr<VideoResult> EvaluateDavisVideo(
    const std::string& video, const std::map<std::string, LabelMap>& gt,
    const std::map<std::string, LabelMap>& pred, bool skip_first_and_last) {
  std::vector<std::string> names;
  for (const auto& entry : gt) names.push_back(entry.first);
  ObjectScorer scorer;
  for (const std::string& frame :
       ScoredFrames(std::move(names), skip_first_and_last)) {
    const LabelMap& truth = gt.at(frame);
    auto it = pred.find(frame);
    if (it == pred.end()) {
      return absl::NotFoundError(absl::StrCat(
          video, "/", frame,
          ": no prediction (the prediction must have every ground-truth "
          "frame)"));
    }
    if (it->second.height != truth.height || it->second.width != truth.width) {
      return absl::InvalidArgumentError(absl::StrCat(
          video, "/", frame, ": size mismatch: the prediction is ",
          it->second.height, "x", it->second.width,
          " (HxW) but the ground truth is ", truth.height, "x", truth.width));
    }
    scorer.FeedFrame(it->second, truth, frame);
  }
  VideoResult result;
  result.name = video;
  AddDavisObjects(scorer, &result);
  return result;
}

}  // namespace sam2::eval
