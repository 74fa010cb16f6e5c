#include "data/random/random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace sam2::data {
namespace {

TEST(RandomTest, SeedFromDependsOnEveryPartAndOrder) {
  std::set<uint64_t> seeds;
  for (uint64_t a = 0; a < 4; ++a) {
    for (uint64_t b = 0; b < 4; ++b) seeds.insert(SeedFrom({1, a, b}));
  }
  EXPECT_EQ(seeds.size(), 16u);
  EXPECT_NE(SeedFrom({1, 2}), SeedFrom({2, 1}));
  EXPECT_EQ(SeedFrom({3, 4, 5}), SeedFrom({3, 4, 5}));
}

TEST(RandomTest, UniformIntCoversInclusiveRange) {
  Rng rng(1);
  std::set<int64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const int64_t v = UniformInt(rng, -2, 3);
    ASSERT_GE(v, -2);
    ASSERT_LE(v, 3);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ(UniformInt(rng, 5, 5), 5);
}

TEST(RandomTest, PermutationAndSample) {
  Rng rng(2);
  std::vector<int64_t> p = RandomPermutation(rng, 10);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sorted[i], i);
  std::vector<int> s =
      SampleWithoutReplacement(rng, std::vector<int>{1, 2, 3, 4}, 3);
  EXPECT_EQ(s.size(), 3u);
  EXPECT_EQ(std::set<int>(s.begin(), s.end()).size(), 3u);
  EXPECT_EQ(SampleWithoutReplacement(rng, std::vector<int>{1, 2}, 5).size(),
            2u);
  for (int i = 0; i < 100; ++i) {
    const double u = Uniform01(rng);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

}  // namespace
}  // namespace sam2::data
