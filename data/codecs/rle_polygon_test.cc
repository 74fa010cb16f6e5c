#include "data/codecs/rle_polygon.h"

#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sam2::data {
namespace {

std::string Runfile(const std::string& path) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/sam2_train_cpp/" + path;
}

// Every golden of pycocotools (squares both ways round, triangles on the
// border, polygons covering the image, a repeated vertex, merged and
// overlapping polygons, 60 random ones partly outside the image) gives the
// same compressed RLE string.
TEST(RleFromPolygonTest, EqualsPycocotoolsOnEveryGolden) {
  std::ifstream in(Runfile("data/codecs/testdata/polygon_rle_goldens.txt"));
  ASSERT_TRUE(in) << "goldens missing";
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t bar = line.find('|');
    ASSERT_NE(bar, std::string::npos) << line;
    std::istringstream fields(line.substr(0, bar));
    int h = 0, w = 0, n = 0;
    fields >> h >> w >> n;
    std::vector<Rle> polygons;
    for (int i = 0; i < n; ++i) {
      int k = 0;
      fields >> k;
      std::vector<double> xy(2 * static_cast<size_t>(k));
      for (double& v : xy) fields >> v;
      absl::StatusOr<Rle> rle = RleFromPolygon(xy, h, w, "golden");
      ASSERT_TRUE(rle.ok()) << rle.status();
      ASSERT_TRUE(ValidateRle(*rle, "golden").ok()) << line;
      polygons.push_back(*rle);
    }
    absl::StatusOr<Rle> merged = RleUnion(polygons, "golden");
    ASSERT_TRUE(merged.ok()) << merged.status();
    EXPECT_EQ(RleToString(*merged), line.substr(bar + 1)) << line;
    ++cases;
  }
  EXPECT_EQ(cases, 67);
}

TEST(RleFromPolygonTest, BadPolygonsAreErrors) {
  EXPECT_FALSE(RleFromPolygon({1, 2, 3, 4}, 10, 10, "x").ok());
  EXPECT_FALSE(RleFromPolygon({1, 2, 3, 4, 5}, 10, 10, "x").ok());
  EXPECT_FALSE(RleFromPolygon({1, 2, 3, 4, 5, 6}, 0, 10, "x").ok());
  Rle a, b;
  a.height = a.width = 2;
  a.counts = {4};
  b.height = 3;
  b.width = 2;
  b.counts = {6};
  const absl::Status s = RleUnion({a, b}, "ann 7").status();
  EXPECT_THAT(s.message(), ::testing::HasSubstr("ann 7: masks of different"));
}

}  // namespace
}  // namespace sam2::data
