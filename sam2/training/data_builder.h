// Builds the data pipeline of a phase (data.train / data.val) from the
// config: raw datasets, samplers, transforms, VOS datasets, their
// concatenations and the threaded loader, and adapts the loader to the
// trainer's BatchSource.
#ifndef SAM2_TRAINING_DATA_BUILDER_H_
#define SAM2_TRAINING_DATA_BUILDER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "configs/experiment.pb.h"
#include "data/datasets/vos_raw_dataset.h"
#include "data/loader/loader.h"
#include "data/transforms/transforms.h"
#include "sam2/training/loop/trainer.h"

namespace sam2::training {

struct DataBuildContext {
  uint64_t seed = 0;
  // The epoch's shards (DistributedSampler replicas) and the consecutive
  // ones this rank loads, interleaved: training gives each rank the shards
  // of its micro-batch slots, validation one shard per rank.
  int num_shards = 1;
  int first_shard = 0;
  int shards_here = 1;
  // Where warnings about skipped samples go.
  data::WarningSink on_warning;
};

absl::StatusOr<std::unique_ptr<data::Transform>> BuildTransforms(
    const google::protobuf::RepeatedPtrField<config::TransformConfig>& configs,
    const std::string& path);

// The raw dataset (videos, frames, segment loaders) of one VOS dataset
// entry; `path` names it in errors (e.g. "data.train.datasets[0].concat[1]").
absl::StatusOr<std::shared_ptr<const data::VosRawDataset>> BuildRawDataset(
    const config::VOSDatasetConfig& config, const std::string& path);

absl::StatusOr<std::unique_ptr<data::DataLoader>> BuildDataLoader(
    const config::MixedDatasetConfig& config, const DataBuildContext& context,
    const std::string& path);

class LoaderBatchSource : public BatchSource {
 public:
  explicit LoaderBatchSource(std::unique_ptr<data::DataLoader> loader)
      : loader_(std::move(loader)) {}
  // Batches of the epoch last started (epoch 0 before any Start).
  int64_t batches_per_epoch() const override {
    absl::StatusOr<int64_t> n = loader_->NumBatches(epoch_);
    return n.ok() ? *n : 0;
  }
  absl::Status Start(int64_t epoch, int64_t first_batch) override {
    epoch_ = epoch;
    return loader_->StartEpoch(epoch, first_batch);
  }
  absl::StatusOr<std::optional<data::BatchedVideoDatapoint>> Next() override {
    return loader_->Next();
  }
  std::vector<std::pair<std::string, double>> Counters() const override;
  data::DataLoader& loader() { return *loader_; }

 private:
  std::unique_ptr<data::DataLoader> loader_;
  int64_t epoch_ = 0;
};

}  // namespace sam2::training

#endif  // SAM2_TRAINING_DATA_BUILDER_H_
