// A map-style dataset of video datapoints, as the loader sees it, and the
// ConcatDataset of several (port of training/dataset/utils.py).
#ifndef SAM2_DATA_DATASETS_SAMPLE_SOURCE_H_
#define SAM2_DATA_DATASETS_SAMPLE_SOURCE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/batch/batch.h"
#include "data/random/sample_context.h"

namespace sam2::data {

// Implementations are immutable: Get may run on several threads at once.
class SampleSource {
 public:
  virtual ~SampleSource() = default;
  virtual int64_t size() const = 0;
  // Per-index repeat factors for RepeatFactorWrapper (size() entries).
  virtual std::vector<float> repeat_factors() const {
    return std::vector<float>(static_cast<size_t>(size()), 1.0f);
  }
  // The datapoint at `index`, all randomness from ctx.rng. Errors name the
  // offending file.
  virtual absl::StatusOr<VideoDatapoint> Get(int64_t index,
                                             SampleContext& ctx) const = 0;
};

class ConcatDataset : public SampleSource {
 public:
  explicit ConcatDataset(
      std::vector<std::shared_ptr<const SampleSource>> datasets);
  int64_t size() const override { return total_; }
  std::vector<float> repeat_factors() const override;
  absl::StatusOr<VideoDatapoint> Get(int64_t index,
                                     SampleContext& ctx) const override;

 private:
  std::vector<std::shared_ptr<const SampleSource>> datasets_;
  std::vector<int64_t> offsets_;  // first index of each dataset
  int64_t total_ = 0;
};

}  // namespace sam2::data

#endif  // SAM2_DATA_DATASETS_SAMPLE_SOURCE_H_
