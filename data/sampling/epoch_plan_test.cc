#include "data/sampling/epoch_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

namespace sam2::data {
namespace {

std::vector<std::vector<int64_t>> AllRanks(int64_t n, int world, bool shuffle,
                                           bool drop_last, int64_t epoch) {
  std::vector<std::vector<int64_t>> out;
  for (int r = 0; r < world; ++r) {
    ShardOptions o;
    o.rank = r;
    o.world_size = world;
    o.shuffle = shuffle;
    o.drop_last = drop_last;
    out.push_back(ShardIndices(n, epoch, o));
  }
  return out;
}

TEST(ShardTest, RanksAreDisjointAndComplete) {
  const auto ranks = AllRanks(12, 4, true, false, 0);
  std::multiset<int64_t> all;
  for (const auto& r : ranks) {
    EXPECT_EQ(r.size(), 3u);
    all.insert(r.begin(), r.end());
  }
  EXPECT_EQ(all.size(), 12u);
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), 12u);
}

TEST(ShardTest, PaddingWrapsAroundToEqualCounts) {
  const auto ranks = AllRanks(10, 4, true, false, 3);
  std::set<int64_t> all;
  size_t total = 0;
  for (const auto& r : ranks) {
    EXPECT_EQ(r.size(), 3u);
    total += r.size();
    all.insert(r.begin(), r.end());
  }
  EXPECT_EQ(total, 12u);
  EXPECT_EQ(all.size(), 10u);  // complete; two positions repeat
  // Tiny dataset: repeated as often as needed.
  for (const auto& r : AllRanks(1, 3, true, false, 0)) {
    EXPECT_EQ(r, std::vector<int64_t>{0});
  }
}

TEST(ShardTest, DropLastTruncatesToEqualCounts) {
  const auto ranks = AllRanks(10, 4, true, true, 0);
  std::set<int64_t> all;
  for (const auto& r : ranks) {
    EXPECT_EQ(r.size(), 2u);
    all.insert(r.begin(), r.end());
  }
  EXPECT_EQ(all.size(), 8u);
  EXPECT_EQ(ShardSize(10, 4, true), 2);
  EXPECT_EQ(ShardSize(10, 4, false), 3);
  EXPECT_EQ(ShardSize(3, 4, true), 0);
}

TEST(ShardTest, EpochSeededShuffle) {
  const auto e0 = AllRanks(50, 2, true, false, 0);
  EXPECT_EQ(e0, AllRanks(50, 2, true, false, 0));
  EXPECT_NE(e0, AllRanks(50, 2, true, false, 1));
  const auto ordered = AllRanks(6, 2, false, false, 5);
  EXPECT_EQ(ordered[0], (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(ordered[1], (std::vector<int64_t>{1, 3, 5}));
}

TEST(RepeatFactorTest, IntegerAndStochasticParts) {
  const std::vector<float> factors = {2.0f, 0.5f, 1.0f};
  double frac_count = 0;
  for (int64_t epoch = 0; epoch < 400; ++epoch) {
    const std::vector<int64_t> ids =
        RepeatFactorEpochIndices(factors, 0, epoch);
    EXPECT_EQ(std::count(ids.begin(), ids.end(), 0), 2);
    EXPECT_EQ(std::count(ids.begin(), ids.end(), 2), 1);
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
    frac_count += std::count(ids.begin(), ids.end(), 1);
  }
  EXPECT_NEAR(frac_count / 400, 0.5, 0.1);
  EXPECT_EQ(RepeatFactorEpochIndices(factors, 0, 7),
            RepeatFactorEpochIndices(factors, 0, 7));
}

TEST(ChunkTest, LikeTorchChunk) {
  std::vector<int64_t> ten(10);
  std::iota(ten.begin(), ten.end(), 0);
  auto c = ChunkLikeTorch(ten, 4);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].size(), 3u);
  EXPECT_EQ(c[3], std::vector<int64_t>{9});
  EXPECT_EQ(ChunkLikeTorch({0, 1, 2, 3, 4}, 4).size(), 3u);  // 2, 2, 1
}

TEST(PlanEpochTest, EqualPerRankCountsAndSameGroupSequence) {
  std::vector<MixedGroup> groups(2);
  groups[0].size = 10;
  groups[0].batch_size = 2;
  groups[1].size = 6;
  groups[1].batch_size = 3;
  std::vector<std::vector<PlannedBatch>> plans;
  for (int rank = 0; rank < 2; ++rank) {
    MixedPlanOptions o;
    o.rank = rank;
    o.world_size = 2;
    auto plan = PlanEpoch(groups, o, 0);
    ASSERT_TRUE(plan.ok()) << plan.status();
    plans.push_back(*plan);
  }
  // Group 0: 5 per rank -> 2 full batches; group 1: 3 per rank -> 1 batch.
  ASSERT_EQ(plans[0].size(), 3u);
  ASSERT_EQ(plans[1].size(), 3u);
  std::set<int64_t> seen0;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(plans[0][i].group, plans[1][i].group);
    const size_t bs = plans[0][i].group == 0 ? 2 : 3;
    EXPECT_EQ(plans[0][i].indices.size(), bs);
    if (plans[0][i].group == 0) {
      for (int r = 0; r < 2; ++r) {
        seen0.insert(plans[r][i].indices.begin(), plans[r][i].indices.end());
      }
    }
  }
  EXPECT_EQ(seen0.size(), 8u);  // disjoint over ranks
  // Without drop_last the partial batch stays.
  MixedPlanOptions keep;
  keep.drop_last = false;
  keep.world_size = 2;
  auto plan = PlanEpoch(groups, keep, 0);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->size(), 4u);
}

TEST(PlanEpochTest, PhasesSplitTheData) {
  std::vector<MixedGroup> groups(1);
  groups[0].size = 9;
  groups[0].batch_size = 1;
  MixedPlanOptions o;
  o.phases_per_epoch = 3;
  std::multiset<int64_t> all;
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    auto plan = PlanEpoch(groups, o, epoch);
    ASSERT_TRUE(plan.ok());
    EXPECT_EQ(plan->size(), 3u);
    for (const auto& b : *plan) all.insert(b.indices[0]);
  }
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), 9u);
}

TEST(PlanEpochTest, RepeatFactorsAndMixing) {
  std::vector<MixedGroup> groups(2);
  groups[0].size = 4;
  groups[0].repeat_factors = {2, 2, 2, 2};
  groups[1].size = 8;
  MixedPlanOptions o;
  auto probs = MixingProbabilities(groups, o);
  ASSERT_TRUE(probs.ok());
  EXPECT_DOUBLE_EQ((*probs)[0], 0.5);
  auto plan = PlanEpoch(groups, o, 0);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->size(), 16u);
  std::map<int64_t, int> count0;
  for (const auto& b : *plan) {
    if (b.group == 0) ++count0[b.indices[0]];
  }
  for (int i = 0; i < 4; ++i) EXPECT_EQ(count0[i], 2);
  o.dataset_prob = {0.3, 0.3};
  EXPECT_FALSE(PlanEpoch(groups, o, 0).ok());
  o.dataset_prob = {1.0, 0.0};
  auto only_first = PlanEpoch(groups, o, 0);
  ASSERT_TRUE(only_first.ok());
  EXPECT_EQ(only_first->size(), 8u);  // group 1 never drawn
  o.dataset_prob.clear();
  o.rank = 2;
  EXPECT_FALSE(PlanEpoch(groups, o, 0).ok());
}

}  // namespace
}  // namespace sam2::data
