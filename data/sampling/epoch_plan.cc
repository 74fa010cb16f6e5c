#include "data/sampling/epoch_plan.h"

#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "data/random/random.h"

namespace sam2::data {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Batches of one group for this rank.
std::vector<std::vector<int64_t>> GroupBatches(const MixedGroup& group,
                                               const MixedPlanOptions& o,
                                               int64_t epoch) {
  const int ppe = o.phases_per_epoch;
  const int64_t dataset_epoch = ppe > 1 ? epoch / ppe : epoch;
  std::vector<int64_t> ids;
  if (!group.repeat_factors.empty()) {
    ids = RepeatFactorEpochIndices(group.repeat_factors, o.repeat_factor_seed,
                                   dataset_epoch);
  } else {
    ids.resize(static_cast<size_t>(group.size));
    std::iota(ids.begin(), ids.end(), 0);
  }
  if (ppe > 1) {
    // A phase is one chunk of a permutation seeded by the data epoch.
    Rng rng(SeedFrom({0x70686173ULL, static_cast<uint64_t>(dataset_epoch)}));
    const std::vector<int64_t> perm =
        RandomPermutation(rng, static_cast<int64_t>(ids.size()));
    const std::vector<std::vector<int64_t>> chunks = ChunkLikeTorch(perm, ppe);
    const int64_t phase = epoch % ppe;
    std::vector<int64_t> subset;
    if (phase < static_cast<int64_t>(chunks.size())) {
      for (int64_t p : chunks[phase]) subset.push_back(ids[p]);
    }
    ids = std::move(subset);
  }
  ShardOptions shard;
  shard.rank = o.rank;
  shard.world_size = o.world_size;
  shard.shuffle = o.shuffle;
  shard.seed = o.shuffle_seed;
  shard.drop_last = false;  // as the reference's DistributedSampler
  const std::vector<int64_t> positions =
      ShardIndices(static_cast<int64_t>(ids.size()), epoch, shard);
  std::vector<std::vector<int64_t>> batches;
  for (size_t i = 0; i < positions.size(); i += group.batch_size) {
    const size_t end = std::min(positions.size(), i + group.batch_size);
    if (o.drop_last && end - i < static_cast<size_t>(group.batch_size)) break;
    std::vector<int64_t> batch;
    for (size_t j = i; j < end; ++j) batch.push_back(ids[positions[j]]);
    batches.push_back(std::move(batch));
  }
  return batches;
}

absl::Status Validate(const std::vector<MixedGroup>& groups,
                      const MixedPlanOptions& o) {
  if (groups.empty()) return absl::InvalidArgumentError("no datasets");
  if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad rank ", o.rank, " for world size ", o.world_size));
  }
  if (o.phases_per_epoch < 1) {
    return absl::InvalidArgumentError("phases_per_epoch must be >= 1");
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].batch_size < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset ", g, ": batch size must be >= 1"));
    }
    if (!groups[g].repeat_factors.empty() &&
        static_cast<int64_t>(groups[g].repeat_factors.size()) !=
            groups[g].size) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset ", g, ": ", groups[g].repeat_factors.size(),
                       " repeat factors for ", groups[g].size, " samples"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

int64_t ShardSize(int64_t n, int world_size, bool drop_last) {
  if (drop_last && n % world_size != 0) {
    // math.ceil((n - W) / W), never negative.
    const int64_t m = n - world_size;
    return m <= 0 ? 0 : CeilDiv(m, world_size);
  }
  return CeilDiv(n, world_size);
}

std::vector<int64_t> ShardIndices(int64_t n, int64_t epoch,
                                  const ShardOptions& o) {
  std::vector<int64_t> indices;
  if (o.shuffle) {
    Rng rng(SeedFrom({o.seed, static_cast<uint64_t>(epoch)}));
    indices = RandomPermutation(rng, n);
  } else {
    indices.resize(static_cast<size_t>(n));
    std::iota(indices.begin(), indices.end(), 0);
  }
  const int64_t per_rank = ShardSize(n, o.world_size, o.drop_last);
  const int64_t total = per_rank * o.world_size;
  if (n > 0) {
    // Wrap around (repeating the list as often as needed) or truncate.
    for (int64_t i = n; i < total; ++i) indices.push_back(indices[i % n]);
  }
  indices.resize(static_cast<size_t>(total));
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(per_rank));
  for (int64_t i = o.rank; i < total; i += o.world_size) {
    mine.push_back(indices[i]);
  }
  return mine;
}

std::vector<int64_t> RepeatFactorEpochIndices(
    const std::vector<float>& repeat_factors, uint64_t seed, int64_t epoch) {
  Rng rng(SeedFrom({0x72657066ULL, seed, static_cast<uint64_t>(epoch)}));
  std::vector<int64_t> indices;
  for (size_t i = 0; i < repeat_factors.size(); ++i) {
    const float f = repeat_factors[i];
    const float whole = std::trunc(f);
    const float frac = f - whole;
    // A draw for every index (as torch.rand over all of them).
    const double u = Uniform01(rng);
    const int64_t times = static_cast<int64_t>(whole) + (u < frac ? 1 : 0);
    for (int64_t k = 0; k < times; ++k) {
      indices.push_back(static_cast<int64_t>(i));
    }
  }
  return indices;
}

std::vector<std::vector<int64_t>> ChunkLikeTorch(
    const std::vector<int64_t>& values, int chunks) {
  std::vector<std::vector<int64_t>> out;
  if (values.empty() || chunks < 1) return out;
  const size_t size =
      static_cast<size_t>(CeilDiv(static_cast<int64_t>(values.size()), chunks));
  for (size_t i = 0; i < values.size(); i += size) {
    out.emplace_back(values.begin() + i,
                     values.begin() + std::min(values.size(), i + size));
  }
  return out;
}

absl::StatusOr<std::vector<double>> MixingProbabilities(
    const std::vector<MixedGroup>& groups, const MixedPlanOptions& o) {
  if (absl::Status s = Validate(groups, o); !s.ok()) return s;
  if (!o.dataset_prob.empty()) {
    if (o.dataset_prob.size() != groups.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(o.dataset_prob.size(), " dataset probabilities for ",
                       groups.size(), " datasets"));
    }
    double sum = 0;
    for (double p : o.dataset_prob) {
      if (p < 0) return absl::InvalidArgumentError("negative dataset_prob");
      sum += p;
    }
    if (std::abs(sum - 1.0) > 1e-6) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset probabilities sum to ", sum, ", not 1"));
    }
    return o.dataset_prob;
  }
  // Proportional to the number of batches at epoch 0 (the reference sets
  // every dataset's epoch to 0 before measuring its length).
  std::vector<double> lens;
  double total = 0;
  for (const MixedGroup& g : groups) {
    int64_t len = g.size;
    if (!g.repeat_factors.empty()) {
      len = static_cast<int64_t>(
          RepeatFactorEpochIndices(g.repeat_factors, o.repeat_factor_seed, 0)
              .size());
    }
    const int64_t batches =
        o.drop_last ? len / g.batch_size : CeilDiv(len, g.batch_size);
    lens.push_back(static_cast<double>(batches));
    total += static_cast<double>(batches);
  }
  if (total <= 0) {
    return absl::InvalidArgumentError(
        "the datasets have no complete batch (too few samples for the batch "
        "sizes)");
  }
  for (double& l : lens) l /= total;
  return lens;
}

absl::StatusOr<std::vector<PlannedBatch>> PlanEpoch(
    const std::vector<MixedGroup>& groups, const MixedPlanOptions& o,
    int64_t epoch) {
  absl::StatusOr<std::vector<double>> probs = MixingProbabilities(groups, o);
  if (!probs.ok()) return probs.status();
  std::vector<std::vector<std::vector<int64_t>>> batches;
  for (const MixedGroup& g : groups)
    batches.push_back(GroupBatches(g, o, epoch));

  // MixedDataLoader: draw a dataset by probability; an exhausted one gets
  // probability 0; stop when all are exhausted.
  Rng rng(SeedFrom({0x6d6978ULL, o.mixing_seed}));
  std::vector<double> p = *probs;
  std::vector<size_t> next(groups.size(), 0);
  std::vector<PlannedBatch> plan;
  while (true) {
    double sum = 0;
    for (double v : p) sum += v;
    if (sum <= 0) break;
    double u = Uniform01(rng) * sum;
    size_t g = 0;
    for (; g + 1 < p.size(); ++g) {
      if (p[g] > 0 && u < p[g]) break;
      u -= p[g];
    }
    while (p[g] <= 0) --g;  // rounding at the top end
    if (next[g] < batches[g].size()) {
      plan.push_back({static_cast<int>(g), std::move(batches[g][next[g]++])});
    } else {
      p[g] = 0;
    }
  }
  return plan;
}

}  // namespace sam2::data
