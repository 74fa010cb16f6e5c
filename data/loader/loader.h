// The training/evaluation data loader: TorchTrainMixedDataset + DataLoader +
// MixedDataLoader of the reference, on threads.
//
//  - Each batch comes from one dataset (group); the sequence of groups and
//    the indices of each batch come from PlanEpoch (sharding over ranks,
//    repeat factors, phases, mixing probabilities).
//  - Worker threads build whole batches (load, sample, transform, collate)
//    ahead of the consumer, at most `prefetch_batches` beyond the one Next()
//    returns next; Next() delivers them in plan order.
//  - The epoch is split into `num_shards` shards, as DistributedSampler
//    splits it over that many replicas. A loader delivers the shards
//    first_shard .. first_shard + shards_here - 1 interleaved: delivery
//    index i is batch i / shards_here of shard first_shard + i % shards_here.
//    A training rank owns the shards of its micro-batch slots (so the data
//    of a slot does not depend on how many ranks share the slots); a plain
//    one-rank-one-shard loader has shards_here = 1, first_shard = rank.
//  - Every random draw of item j of batch b of shard s in epoch e comes from
//    SeedFrom({seed, e, s, b, j}): batches depend neither on the number of
//    workers, nor on timing, nor on which rank loads the shard, and a run
//    resumed at (epoch, batch) continues with exactly the batches it would
//    have seen.
//  - A batch that cannot be built (training: its samples ran out of
//    replacements; evaluation: any bad sample) is returned by Next() as an
//    error in its turn; the loader then moves on to the next batch.
//  - The destructor stops the workers (they finish at most the sample they
//    are on) and joins them.
// StartEpoch / Restore / Next are for one consumer thread; the getters may
// be called from any thread.
#ifndef SAM2_DATA_LOADER_LOADER_H_
#define SAM2_DATA_LOADER_LOADER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/batch/batch.h"
#include "data/datasets/sample_source.h"
#include "data/random/sample_context.h"
#include "data/sampling/epoch_plan.h"

namespace sam2::data {

struct DatasetGroup {
  std::shared_ptr<const SampleSource> dataset;
  int batch_size = 1;
  // Wrap in RepeatFactorWrapper with dataset->repeat_factors() (the
  // reference configs always do; a VosDataset's factors are its multiplier).
  bool repeat_factor_wrapper = true;
};

struct LoaderOptions {
  // Threads building batches; 0: Next() builds each batch itself.
  int num_workers = 2;
  // Batches being built or ready ahead of the consumer (>= 1).
  int prefetch_batches = 4;
  // Base of every per-sample seed.
  uint64_t seed = 0;
  // Shards of the epoch (DistributedSampler's num_replicas) and the ones
  // this loader delivers, interleaved (see the file comment).
  int num_shards = 1;
  int first_shard = 0;
  int shards_here = 1;
  bool shuffle = true;
  // Drop each dataset's last partial batch.
  bool drop_last = true;
  int phases_per_epoch = 1;
  // Probability of each group; empty: by number of batches.
  std::vector<double> dataset_prob;
  std::string dict_key = "all";
  uint64_t shuffle_seed = 0;        // DistributedSampler's seed
  uint64_t repeat_factor_seed = 0;  // RepeatFactorWrapper's seed
  uint64_t mixing_seed = 42;        // MixedDataLoader's generator
  // Warnings (skipped samples, skipped affine); empty: glog LOG(WARNING).
  WarningSink on_warning;
  // Host memory of released batches kept for the next ones (see
  // TensorBufferPool); 0 disables the pool.
  size_t buffer_pool_bytes = size_t{1} << 30;
};

// Where the loader stands: Next() returns batch `batch` of `epoch` next.
struct LoaderPosition {
  int64_t epoch = 0;
  int64_t batch = 0;
};

class DataLoader {
 public:
  static absl::StatusOr<std::unique_ptr<DataLoader>> Create(
      std::vector<DatasetGroup> groups, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Starts iterating over `epoch` from batch `start_batch` (0..num_batches);
  // batches prefetched for a previous position are dropped.
  absl::Status StartEpoch(int64_t epoch, int64_t start_batch = 0);
  // Same, from a saved position().
  absl::Status Restore(const LoaderPosition& position) {
    return StartEpoch(position.epoch, position.batch);
  }

  // The next batch of the epoch; nullopt when the epoch is over. Errors:
  // FailedPrecondition before StartEpoch; a batch that could not be built.
  absl::StatusOr<std::optional<BatchedVideoDatapoint>> Next();

  // Batches in the current epoch / in `epoch` delivered by this loader
  // (shards_here x the batches of one shard).
  int64_t num_batches() const;
  absl::StatusOr<int64_t> NumBatches(int64_t epoch) const;
  LoaderPosition position() const;
  const DataStats& stats() const { return stats_; }
  const LoaderOptions& options() const { return options_; }

  // Builds batch `batch_index` of `epoch` on the calling thread, without
  // touching the iteration state (tests, debugging).
  absl::StatusOr<BatchedVideoDatapoint> LoadBatch(int64_t epoch,
                                                  int64_t batch_index) const;

 private:
  DataLoader(std::vector<DatasetGroup> groups, LoaderOptions options,
             std::vector<MixedGroup> plan_groups,
             MixedPlanOptions plan_options);
  // The delivery plan of `epoch`: this loader's shards, interleaved.
  absl::StatusOr<std::vector<PlannedBatch>> Plan(int64_t epoch) const;
  absl::StatusOr<BatchedVideoDatapoint> BuildBatch(int64_t epoch,
                                                   int64_t batch_index,
                                                   const PlannedBatch& batch,
                                                   uint64_t generation) const;
  void WorkerLoop();
  bool WorkAvailable() const;  // with mu_ held

  const std::vector<DatasetGroup> groups_;
  const LoaderOptions options_;
  const std::vector<MixedGroup> plan_groups_;
  const MixedPlanOptions plan_options_;
  WarningSink warn_;
  std::unique_ptr<TensorBufferPool> pool_;
  mutable DataStats stats_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                    // guarded by mu_
  std::atomic<bool> stopping_{false};    // read by workers between samples
  std::atomic<uint64_t> generation_{0};  // bumped by StartEpoch
  std::shared_ptr<const std::vector<PlannedBatch>> plan_;  // guarded by mu_
  int64_t epoch_ = 0;                                      // guarded by mu_
  int64_t next_schedule_ = 0;                              // guarded by mu_
  int64_t next_deliver_ = 0;                               // guarded by mu_
  std::map<int64_t, absl::StatusOr<BatchedVideoDatapoint>> ready_;
  std::vector<std::thread> workers_;
};

}  // namespace sam2::data

#endif  // SAM2_DATA_LOADER_LOADER_H_
