// What loading one sample needs besides the data: its random generator, where
// warnings go, and the counters that logs report.
#ifndef SAM2_DATA_RANDOM_SAMPLE_CONTEXT_H_
#define SAM2_DATA_RANDOM_SAMPLE_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "data/random/random.h"

namespace sam2::data {

// Counters shared by every worker of a loader (thread-safe).
struct DataStats {
  // Training samples that failed to load (bad file, bad annotation, too
  // short video, no object in the first frame...) and were replaced by
  // another sample.
  std::atomic<int64_t> bad_samples_skipped{0};
  // RandomAffine calls that left the video untransformed because an object
  // vanished from the first frame in every attempt.
  std::atomic<int64_t> affine_skipped{0};
  // Samples and batches delivered.
  std::atomic<int64_t> samples_loaded{0};
  std::atomic<int64_t> batches_loaded{0};
};

using WarningSink = std::function<void(const std::string&)>;

struct SampleContext {
  Rng rng;
  // Where warnings go; empty: dropped.
  WarningSink warn;
  // May be null.
  DataStats* stats = nullptr;

  explicit SampleContext(uint64_t seed, WarningSink sink = {},
                         DataStats* counters = nullptr)
      : rng(seed), warn(std::move(sink)), stats(counters) {}

  void Warn(const std::string& message) const {
    if (warn) warn(message);
  }
};

}  // namespace sam2::data

#endif  // SAM2_DATA_RANDOM_SAMPLE_CONTEXT_H_
