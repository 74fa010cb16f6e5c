#include "data/sampling/vos_sampler.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"

namespace sam2::data {
namespace {

// Object ids of `segments` that count as visible.
absl::StatusOr<std::vector<int>> VisibleObjects(const FrameSegments& segments) {
  std::vector<int> visible;
  for (int id : segments.ObjectIds()) {
    if (segments.IsNull(id)) continue;
    if (segments.every_object_visible()) {
      visible.push_back(id);
      continue;
    }
    absl::StatusOr<int64_t> area = segments.Area(id);
    if (!area.ok()) return area.status();
    if (*area > 0) visible.push_back(id);
  }
  return visible;
}

}  // namespace

absl::StatusOr<SampledFramesAndObjects> RandomUniformSampler::Sample(
    const VosVideo& video, const SegmentLoader& segment_loader,
    Rng& rng) const {
  const int64_t n = static_cast<int64_t>(video.frames.size());
  if (n < num_frames_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Cannot sample ", num_frames_, " frames from video ", video.video_name,
        " as it only has ", n, " annotated frames."));
  }
  // A frame drawn again is not decoded again: visibility is cached.
  std::map<int, std::vector<int>> visible_by_frame;
  for (int retry = 0; retry < kMaxRetries; ++retry) {
    const int64_t start = UniformInt(rng, 0, n - num_frames_);
    std::vector<VosFrame> frames(video.frames.begin() + start,
                                 video.frames.begin() + start + num_frames_);
    if (Uniform01(rng) < reverse_time_prob_) {
      std::reverse(frames.begin(), frames.end());
    }
    const int first = frames[0].frame_idx;
    std::optional<FrameSegments> segments;
    auto cached = visible_by_frame.find(first);
    if (cached == visible_by_frame.end()) {
      absl::StatusOr<FrameSegments> loaded = segment_loader.Load(first);
      if (!loaded.ok()) return loaded.status();
      absl::StatusOr<std::vector<int>> visible = VisibleObjects(*loaded);
      if (!visible.ok()) return visible.status();
      cached = visible_by_frame.emplace(first, std::move(*visible)).first;
      segments = std::move(*loaded);
    }
    if (cached->second.empty()) continue;
    SampledFramesAndObjects result;
    result.frames = std::move(frames);
    result.object_ids = SampleWithoutReplacement(
        rng, cached->second,
        static_cast<size_t>(std::max(0, max_num_objects_)));
    result.first_frame_segments = std::move(segments);
    return result;
  }
  return absl::FailedPreconditionError(
      absl::StrCat("No visible objects in the first frame of any of ",
                   kMaxRetries, " draws from video ", video.video_name));
}

absl::StatusOr<SampledFramesAndObjects> EvalSampler::Sample(
    const VosVideo& video, const SegmentLoader& segment_loader,
    Rng& /*rng*/) const {
  if (video.frames.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("video ", video.video_name, " has no frames"));
  }
  SampledFramesAndObjects result;
  result.frames = video.frames;
  if (sort_frames_) {
    std::stable_sort(result.frames.begin(), result.frames.end(),
                     [](const VosFrame& a, const VosFrame& b) {
                       return a.frame_idx < b.frame_idx;
                     });
  }
  absl::StatusOr<FrameSegments> segments =
      segment_loader.Load(result.frames[0].frame_idx);
  if (!segments.ok()) return segments.status();
  result.object_ids = segments->ObjectIds();
  if (result.object_ids.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "First frame of the video ", video.video_name, " has no objects"));
  }
  result.first_frame_segments = std::move(*segments);
  return result;
}

}  // namespace sam2::data
