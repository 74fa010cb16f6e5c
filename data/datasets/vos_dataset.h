// VOSDataset (training/dataset/vos_dataset.py): a raw video dataset, a
// frame/object sampler and the transforms, giving VideoDatapoints.
#ifndef SAM2_DATA_DATASETS_VOS_DATASET_H_
#define SAM2_DATA_DATASETS_VOS_DATASET_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/datasets/sample_source.h"
#include "data/datasets/vos_raw_dataset.h"
#include "data/sampling/vos_sampler.h"
#include "data/transforms/transforms.h"

namespace sam2::data {

struct VosDatasetOptions {
  // Training: a sample that fails to load (unreadable or truncated image,
  // missing or malformed annotation, mask/frame size mismatch, video too
  // short, no object in the first frame...) is replaced by another one drawn
  // from the sample's generator, with a warning naming the file and
  // DataStats::bad_samples_skipped counting it. Evaluation: the error is
  // returned.
  bool training = true;
  // Repeat factor of every video (RepeatFactorWrapper).
  float multiplier = 1.0f;
  // Objects absent from a frame get an all-zero mask (else they are left out
  // of that frame).
  bool always_target = true;
  // Kept for configuration parity; the reference does not use it either.
  bool target_segments_available = true;
  // Training: samples tried in all, the first one included, before giving
  // up (the reference's MAX_RETRIES = 100); values below 1 mean 1.
  int max_retries = 100;
};

class VosDataset : public SampleSource {
 public:
  // `transforms` may be null (no transform; collation then fails: the
  // reference configs always end with ToTensor + Normalize).
  VosDataset(std::shared_ptr<const VosRawDataset> videos,
             std::shared_ptr<const VosSampler> sampler,
             std::shared_ptr<const Transform> transforms,
             VosDatasetOptions options);

  int64_t size() const override { return videos_->size(); }
  std::vector<float> repeat_factors() const override;
  absl::StatusOr<VideoDatapoint> Get(int64_t index,
                                     SampleContext& ctx) const override;

  // One attempt at `index`, no replacement.
  absl::StatusOr<VideoDatapoint> TryGet(int64_t index,
                                        SampleContext& ctx) const;
  const VosDatasetOptions& options() const { return options_; }

 private:
  absl::StatusOr<VideoDatapoint> Construct(
      const VosVideo& video, SampledFramesAndObjects& sampled,
      const SegmentLoader& segment_loader) const;
  std::string VideoName(int64_t index) const;

  std::shared_ptr<const VosRawDataset> videos_;
  std::shared_ptr<const VosSampler> sampler_;
  std::shared_ptr<const Transform> transforms_;
  VosDatasetOptions options_;
};

// An RGB frame from a JPEG (or PNG: gray, gray+alpha, RGB, RGBA) file, as
// PIL's Image.open(path).convert("RGB").
absl::StatusOr<Image> LoadRgbImage(const std::string& path);

}  // namespace sam2::data

#endif  // SAM2_DATA_DATASETS_VOS_DATASET_H_
