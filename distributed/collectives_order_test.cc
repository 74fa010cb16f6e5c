// SumInCanonicalOrder realises the canonical tree: split at the largest power
// of two below n, recursively. Checked symbolically on the parenthesised
// expression it builds.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "distributed/collectives.h"

namespace sam2::distributed {
namespace {

std::string Canonical(int first, int n) {
  if (n == 1) return std::to_string(first);
  int m = 1;
  while (m * 2 < n) m *= 2;
  return "(" + Canonical(first, m) + "+" + Canonical(first + m, n - m) + ")";
}

std::string ByStack(int n) {
  std::vector<std::string> v;
  for (int i = 0; i < n; ++i) v.push_back(std::to_string(i));
  SumInCanonicalOrder(n, [&](int into, int from) {
    v[into] = "(" + v[into] + "+" + v[from] + ")";
  });
  return v[0];
}

TEST(SumInCanonicalOrderTest, RealisesTheCanonicalTree) {
  for (int n = 1; n <= 33; ++n) EXPECT_EQ(ByStack(n), Canonical(0, n)) << n;
  EXPECT_EQ(ByStack(4), "((0+1)+(2+3))");
  EXPECT_EQ(ByStack(3), "((0+1)+2)");
}

// Blocks of A = 2^a consecutive values, each summed canonically, then summed
// canonically over the blocks, give the canonical sum over all W A values.
TEST(SumInCanonicalOrderTest, PowerOfTwoBlocksAreSubtrees) {
  for (int a : {1, 2, 4, 8}) {
    for (int w = 1; w <= 9; ++w) {
      std::vector<std::string> blocks;
      for (int b = 0; b < w; ++b) {
        std::vector<std::string> v;
        for (int i = 0; i < a; ++i) v.push_back(std::to_string(b * a + i));
        SumInCanonicalOrder(a, [&](int into, int from) {
          v[into] = "(" + v[into] + "+" + v[from] + ")";
        });
        blocks.push_back(v[0]);
      }
      SumInCanonicalOrder(w, [&](int into, int from) {
        blocks[into] = "(" + blocks[into] + "+" + blocks[from] + ")";
      });
      EXPECT_EQ(blocks[0], Canonical(0, w * a)) << "A " << a << " W " << w;
    }
  }
}

}  // namespace
}  // namespace sam2::distributed
