#include "distributed/work_split.h"

#include <gtest/gtest.h>

#include <set>

namespace sam2::distributed {
namespace {

TEST(MyShareOfWorkTest, EveryUnitOnceAndBalanced) {
  std::vector<WorkUnit> units;
  for (int i = 0; i < 11; ++i) {
    units.push_back({"u" + std::to_string(i), static_cast<uint64_t>(i * i)});
  }
  std::multiset<size_t> seen;
  std::vector<uint64_t> loads;
  for (int r = 0; r < 3; ++r) {
    uint64_t load = 0;
    for (size_t i : MyShareOfWork(units, r, 3)) {
      seen.insert(i);
      load += units[i].size;
    }
    loads.push_back(load);
  }
  EXPECT_EQ(seen.size(), units.size());
  EXPECT_EQ(std::set<size_t>(seen.begin(), seen.end()).size(), units.size());
  // Greedy largest-first: loads within the largest unit of each other.
  const auto [lo, hi] = std::minmax_element(loads.begin(), loads.end());
  EXPECT_LE(*hi - *lo, 100u);
  // One rank takes everything.
  EXPECT_EQ(MyShareOfWork(units, 0, 1).size(), units.size());
}

TEST(MyShareOfWorkTest, EmptyUnitsSpreadOut) {
  std::vector<WorkUnit> units = {{"a", 0}, {"b", 0}, {"c", 0}, {"d", 0}};
  EXPECT_EQ(MyShareOfWork(units, 0, 2).size(), 2u);
  EXPECT_EQ(MyShareOfWork(units, 1, 2).size(), 2u);
}

}  // namespace
}  // namespace sam2::distributed
