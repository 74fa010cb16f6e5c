#include "data/datasets/sample_source.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace sam2::data {

ConcatDataset::ConcatDataset(
    std::vector<std::shared_ptr<const SampleSource>> datasets)
    : datasets_(std::move(datasets)) {
  for (const auto& d : datasets_) {
    offsets_.push_back(total_);
    total_ += d->size();
  }
}

std::vector<float> ConcatDataset::repeat_factors() const {
  std::vector<float> all;
  for (const auto& d : datasets_) {
    const std::vector<float> f = d->repeat_factors();
    all.insert(all.end(), f.begin(), f.end());
  }
  return all;
}

absl::StatusOr<VideoDatapoint> ConcatDataset::Get(int64_t index,
                                                  SampleContext& ctx) const {
  if (index < 0 || index >= total_) {
    return absl::OutOfRangeError(absl::StrCat("ConcatDataset: index ", index,
                                              " not in [0, ", total_, ")"));
  }
  const size_t d = static_cast<size_t>(
      std::upper_bound(offsets_.begin(), offsets_.end(), index) -
      offsets_.begin() - 1);
  return datasets_[d]->Get(index - offsets_[d], ctx);
}

}  // namespace sam2::data
