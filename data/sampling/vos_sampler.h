// Which frames and objects of a video make a sample (port of
// training/dataset/vos_sampler.py).
#ifndef SAM2_DATA_SAMPLING_VOS_SAMPLER_H_
#define SAM2_DATA_SAMPLING_VOS_SAMPLER_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "data/datasets/vos_raw_dataset.h"
#include "data/datasets/vos_segment_loader.h"
#include "data/random/random.h"

namespace sam2::data {

struct SampledFramesAndObjects {
  std::vector<VosFrame> frames;
  std::vector<int> object_ids;
  // The segments of frames[0] as the sampler loaded them (every object), so
  // that the dataset does not decode them twice; nullopt if not loaded.
  std::optional<FrameSegments> first_frame_segments;
};

class VosSampler {
 public:
  virtual ~VosSampler() = default;
  // Errors name the video (too short, no object) or come from the segment
  // loader (unreadable mask file).
  virtual absl::StatusOr<SampledFramesAndObjects> Sample(
      const VosVideo& video, const SegmentLoader& segment_loader,
      Rng& rng) const = 0;
};

// num_frames consecutive frames from a uniformly drawn start, reversed with
// probability reverse_time_prob; the (possibly reversed) first frame must
// show an object (redrawn up to kMaxRetries times), and up to
// max_num_objects of its visible objects are drawn. Visible: a non-empty
// mask; for SA-1B every listed object (its loader already dropped empty
// annotations); a null (unannotated) entry is not visible.
class RandomUniformSampler : public VosSampler {
 public:
  static constexpr int kMaxRetries = 1000;

  RandomUniformSampler(int num_frames, int max_num_objects,
                       double reverse_time_prob = 0.0)
      : num_frames_(num_frames),
        max_num_objects_(max_num_objects),
        reverse_time_prob_(reverse_time_prob) {}
  absl::StatusOr<SampledFramesAndObjects> Sample(
      const VosVideo& video, const SegmentLoader& segment_loader,
      Rng& rng) const override;

  int num_frames() const { return num_frames_; }
  int max_num_objects() const { return max_num_objects_; }

 private:
  int num_frames_;
  int max_num_objects_;
  double reverse_time_prob_;
};

// Evaluation: every frame (sorted by frame index when sort_frames) and every
// object of the first frame (listed ones, visible or not).
class EvalSampler : public VosSampler {
 public:
  explicit EvalSampler(bool sort_frames = true) : sort_frames_(sort_frames) {}
  absl::StatusOr<SampledFramesAndObjects> Sample(
      const VosVideo& video, const SegmentLoader& segment_loader,
      Rng& rng) const override;

 private:
  bool sort_frames_;
};

}  // namespace sam2::data

#endif  // SAM2_DATA_SAMPLING_VOS_SAMPLER_H_
