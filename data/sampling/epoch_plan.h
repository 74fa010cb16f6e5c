// Index bookkeeping of an epoch: sharding over ranks (torch's
// DistributedSampler), repeat-factor sampling (RepeatFactorWrapper), phases
// (torch.chunk of a permutation) and the mixed-dataset batch plan
// (TorchTrainMixedDataset + MixedDataLoader). Pure functions of their
// arguments: every rank computes its own part of the same global plan.
#ifndef SAM2_DATA_SAMPLING_EPOCH_PLAN_H_
#define SAM2_DATA_SAMPLING_EPOCH_PLAN_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace sam2::data {

struct ShardOptions {
  int rank = 0;
  int world_size = 1;
  bool shuffle = true;
  // The permutation of epoch e is seeded from (seed, e).
  uint64_t seed = 0;
  // false: pad by wrapping around to a multiple of world_size; true: drop
  // the tail instead.
  bool drop_last = false;
};

// Samples per rank for a dataset of n: ceil(n / W), or with drop_last
// floor(n / W).
int64_t ShardSize(int64_t n, int world_size, bool drop_last);

// This rank's dataset positions for `epoch`: a permutation of 0..n-1 (or the
// identity), padded / truncated to ShardSize * W, then every W-th element
// from `rank`. Ranks are disjoint except for the wrap-around padding and
// together cover every position.
std::vector<int64_t> ShardIndices(int64_t n, int64_t epoch,
                                  const ShardOptions& options);

// RepeatFactorWrapper: dataset index i appears floor(f_i) times, plus once
// more with probability frac(f_i) (stochastic rounding seeded from
// (seed, epoch)), in index order.
std::vector<int64_t> RepeatFactorEpochIndices(
    const std::vector<float>& repeat_factors, uint64_t seed, int64_t epoch);

// torch.chunk(values, chunks): pieces of ceil(n / chunks), the last shorter;
// fewer than `chunks` pieces when n is small.
std::vector<std::vector<int64_t>> ChunkLikeTorch(
    const std::vector<int64_t>& values, int chunks);

// One dataset of a mixed loader (an entry of TorchTrainMixedDataset).
struct MixedGroup {
  int64_t size = 0;
  // Non-empty: wrap in RepeatFactorWrapper with these factors (size()
  // entries).
  std::vector<float> repeat_factors;
  int batch_size = 1;
};

struct MixedPlanOptions {
  int phases_per_epoch = 1;
  bool shuffle = true;
  // Batch level: drop each dataset's last partial batch.
  bool drop_last = true;
  int rank = 0;
  int world_size = 1;
  uint64_t shuffle_seed = 0;        // DistributedSampler's seed
  uint64_t repeat_factor_seed = 0;  // RepeatFactorWrapper's seed
  // MixedDataLoader reseeds its dataset choice with 42 every epoch, so every
  // epoch (and every rank) interleaves the datasets the same way.
  uint64_t mixing_seed = 42;
  // Probability of drawing each dataset; empty: proportional to its number
  // of batches at epoch 0 (over the whole dataset). Must sum to 1.
  std::vector<double> dataset_prob;
};

struct PlannedBatch {
  int group = 0;
  // Indices into the group's dataset.
  std::vector<int64_t> indices;
};

// The dataset mixing probabilities (validated).
absl::StatusOr<std::vector<double>> MixingProbabilities(
    const std::vector<MixedGroup>& groups, const MixedPlanOptions& options);

// This rank's batches of `epoch`, in delivery order. Every rank gets the
// same number of batches from each group, and the same group sequence.
absl::StatusOr<std::vector<PlannedBatch>> PlanEpoch(
    const std::vector<MixedGroup>& groups, const MixedPlanOptions& options,
    int64_t epoch);

}  // namespace sam2::data

#endif  // SAM2_DATA_SAMPLING_EPOCH_PLAN_H_
