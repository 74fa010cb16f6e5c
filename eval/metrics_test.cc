// The building blocks against hand-derived values, brute force, and CPython.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "eval/boundary_f.h"
#include "eval/numpy_mean.h"
#include "eval/py_int_set.h"
#include "eval/region_j.h"
#include "eval/report.h"

namespace sam2::eval {
namespace {

data::Mask FromRows(const std::vector<std::string>& rows) {
  data::Mask mask(static_cast<int>(rows.size()),
                  static_cast<int>(rows[0].size()));
  for (int y = 0; y < mask.height; ++y) {
    for (int x = 0; x < mask.width; ++x) mask.at(y, x) = rows[y][x] == '#';
  }
  return mask;
}

std::vector<std::string> ToRows(const data::Mask& mask) {
  std::vector<std::string> rows;
  for (int y = 0; y < mask.height; ++y) {
    std::string row;
    for (int x = 0; x < mask.width; ++x) row += mask.at(y, x) ? '#' : '.';
    rows.push_back(row);
  }
  return rows;
}

TEST(RegionJTest, EmptyCasesAndIou) {
  const data::Mask empty = FromRows({"....", "...."});
  const data::Mask a = FromRows({"##..", "##.."});
  const data::Mask b = FromRows({".##.", ".##."});
  EXPECT_EQ(RegionJ(empty, empty), 1.0);
  EXPECT_EQ(RegionJ(a, empty), 0.0);
  EXPECT_EQ(RegionJ(empty, a), 0.0);
  EXPECT_EQ(RegionJ(a, b), 2.0 / 6.0);
  EXPECT_EQ(RegionJ(a, a), 1.0);
}

TEST(BoundaryRadiusTest, CeilOfTheDiagonalFraction) {
  EXPECT_EQ(BoundaryRadius(37, 53), 1);      // 0.517
  EXPECT_EQ(BoundaryRadius(75, 100), 1);     // exactly 1
  EXPECT_EQ(BoundaryRadius(225, 300), 3);    // exactly 3 in float64
  EXPECT_EQ(BoundaryRadius(720, 1280), 12);  // 11.749
  EXPECT_EQ(BoundaryRadius(80, 120), 2);
  EXPECT_EQ(BoundaryRadius(480, 854), 8);  // SA-V's 854x480 videos
}

TEST(Seg2BmapTest, EastSouthAndSouthEastNeighbours) {
  // Expected values: the reference's array expressions evaluated on these
  // masks. A 2x2 square at (1..2, 1..2): the boundary is offset by half a
  // pixel towards the origin.
  const data::Mask seg = FromRows({
      ".....",
      ".##..",
      ".##..",
      ".....",
  });
  EXPECT_EQ(ToRows(Seg2Bmap(seg)), (std::vector<std::string>{
                                       "###..",
                                       "#.#..",
                                       "###..",
                                       ".....",
                                   }));
  // Set pixels on the last row and column: the last row compares east
  // only, the last column south only, the corner is never on.
  const data::Mask edge = FromRows({
      "...",
      "..#",
      "###",
  });
  EXPECT_EQ(ToRows(Seg2Bmap(edge)), (std::vector<std::string>{
                                        ".##",
                                        "##.",
                                        "...",
                                    }));
}

// Brute force: stamp the disk {dx^2 + dy^2 <= r^2} around every boundary
// pixel, then count the points inside.
int64_t BruteCount(const data::Mask& points, const data::Mask& boundary,
                   int r) {
  data::Mask dilated(boundary.height, boundary.width);
  for (int y = 0; y < boundary.height; ++y) {
    for (int x = 0; x < boundary.width; ++x) {
      if (!boundary.at(y, x)) continue;
      for (int dy = -r; dy <= r; ++dy) {
        for (int dx = -r; dx <= r; ++dx) {
          const int yy = y + dy, xx = x + dx;
          if (dx * dx + dy * dy > r * r || yy < 0 || xx < 0 ||
              yy >= boundary.height || xx >= boundary.width) {
            continue;
          }
          dilated.at(yy, xx) = 1;
        }
      }
    }
  }
  int64_t count = 0;
  for (size_t i = 0; i < points.data.size(); ++i) {
    count += points.data[i] && dilated.data[i];
  }
  return count;
}

TEST(BoundaryFTest, DilationCountMatchesBruteForce) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 60; ++trial) {
    const int h = 1 + rng() % 40, w = 1 + rng() % 40, r = rng() % 7;
    data::Mask points(h, w), boundary(h, w);
    const unsigned density = 2 + rng() % 30;
    for (auto& v : points.data) v = rng() % density == 0;
    for (auto& v : boundary.data) v = rng() % density == 0;
    EXPECT_EQ(CountWithinDilation(points, boundary, r),
              BruteCount(points, boundary, r))
        << h << "x" << w << " r=" << r;
  }
}

TEST(BoundaryFTest, EmptyCases) {
  const data::Mask empty = FromRows({"....", "....", "...."});
  const data::Mask blob = FromRows({"....", ".##.", "...."});
  EXPECT_EQ(BoundaryF(empty, blob, 1), 0.0);   // precision 1, recall 0
  EXPECT_EQ(BoundaryF(blob, empty, 1), 0.0);   // precision 0, recall 1
  EXPECT_EQ(BoundaryF(empty, empty, 1), 1.0);  // both empty
  EXPECT_EQ(BoundaryF(blob, blob, 1), 1.0);
}

TEST(BoundaryFTest, FarApartBoundariesScoreZero) {
  const data::Mask a = FromRows({"##........", "##........"});
  const data::Mask b = FromRows({"........##", "........##"});
  EXPECT_EQ(BoundaryF(a, b, 1), 0.0);
}

TEST(NumpyMeanTest, PairwiseOrder) {
  const double big = 9007199254740992.0;  // 2^53: big + 1 rounds back to big
  // Below 8 values: a plain loop.
  EXPECT_EQ(NumpySum({big, 1, 1, 1, 1, 1, 1}), big);
  // 8 values: eight accumulators, combined pairwise: (big+1) + 2+2+2.
  EXPECT_EQ(NumpySum({big, 1, 1, 1, 1, 1, 1, 1}), big + 6);
  // 136 values: split at 64; the left half's first accumulator stays at big,
  // the other seven hold 8 each; the right half is exact.
  std::vector<double> many(136, 1.0);
  many[0] = big;
  EXPECT_EQ(NumpySum(many), big + 56 + 72);
  EXPECT_EQ(NumpyMean({1.0, 2.0, 4.0}), 7.0 / 3.0);
  EXPECT_TRUE(std::isnan(NumpyMean({})));
}

TEST(PyIntSetTest, MatchesCPythonIterationOrder) {
  std::ifstream file("eval/testdata/py_set_orders.txt");
  ASSERT_TRUE(file) << "eval/testdata/py_set_orders.txt";
  std::string line;
  int cases = 0;
  auto ints = [](absl::string_view text) {
    std::vector<int64_t> values;
    for (absl::string_view part :
         absl::StrSplit(text, ',', absl::SkipEmpty())) {
      int64_t v = 0;
      EXPECT_TRUE(absl::SimpleAtoi(part, &v)) << part;
      values.push_back(v);
    }
    return values;
  };
  while (std::getline(file, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> sides = absl::StrSplit(line, " -> ");
    ASSERT_EQ(sides.size(), 2u) << line;
    PyIntSet set;
    for (absl::string_view frame : absl::StrSplit(sides[0], ';')) {
      set.Update(PyIntSet::FromList(ints(frame)));
    }
    EXPECT_EQ(set.Keys(), ints(sides[1])) << line;
    ++cases;
  }
  EXPECT_EQ(cases, 300);
}

TEST(PyIntSetTest, SmallIdsAscendButLargerOnesNeedNot) {
  PyIntSet set;
  set.Update(PyIntSet::FromList({9}));
  set.Update(PyIntSet::FromList({1}));
  EXPECT_EQ(set.Keys(), (std::vector<int64_t>{9, 1}));  // 9 took slot 1
  PyIntSet small = PyIntSet::FromList({3, 1, 2});
  EXPECT_EQ(small.Keys(), (std::vector<int64_t>{1, 2, 3}));
}

TEST(ReportTest, PythonFormats) {
  EXPECT_EQ(ObjectLabel("000", false), "000");
  EXPECT_EQ(ObjectLabel("7", false), "700");  // Python 3.10+: f"{'7':03}"
  EXPECT_EQ(ObjectLabel("7", true), "007");
  EXPECT_EQ(ObjectLabel("1234", true), "1234");
  EXPECT_EQ(FormatFixed1(0.0, 4), " 0.0");
  EXPECT_EQ(FormatFixed1(100.0, 4), "100.0");
  EXPECT_EQ(FormatFixed1(48.45, 0), "48.5");  // 48.45 is 48.4500000000000028...
  EXPECT_EQ(FormatFixed1(0.25, 0), "0.2");    // exact tie: half to even
  EXPECT_EQ(FormatFixed1(-std::nan(""), 4), " nan");
  EXPECT_EQ(PyListRepr({"a", "it's", "b\\c"}), "['a', \"it's\", 'b\\\\c']");
  EXPECT_EQ(PyListRepr({}), "[]");
  EXPECT_EQ(CodePointCount("vid\xC3\xA9o"), 5u);
}

}  // namespace
}  // namespace sam2::eval
