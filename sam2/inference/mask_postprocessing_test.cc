// Connected components and hole filling on hand-made shapes, and against
// goldens from the reference's fill_holes_in_mask_scores
// (testdata/vos_postproc/cc.pt, tools/gen_postprocessing_goldens.py: its
// component labelling is an 8-connected flood fill checked against the
// reference's CUDA kernel).
#include "sam2/inference/mask_postprocessing.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sam2/checkpoint/torch_file.h"

namespace sam2::inference {
namespace {

constexpr int64_t kMaxArea = 8;  // build_sam2_video_predictor's fill_hole_area

// Scores [1, 1, H, W]: +1 (foreground) except the listed background pixels.
at::Tensor Scores(int64_t height, int64_t width,
                  const std::vector<std::pair<int, int>>& background) {
  at::Tensor s = at::ones({1, 1, height, width});
  for (const auto& [y, x] : background) s[0][0][y][x] = -1.0f;
  return s;
}

std::vector<std::pair<int, int>> Rect(int y0, int x0, int h, int w) {
  std::vector<std::pair<int, int>> px;
  for (int y = y0; y < y0 + h; ++y) {
    for (int x = x0; x < x0 + w; ++x) px.emplace_back(y, x);
  }
  return px;
}

float At(const at::Tensor& s, int y, int x) {
  return s[0][0][y][x].item<float>();
}

TEST(ConnectedComponentAreasTest, AreasOfSetPixelsZeroElsewhere) {
  // Two components: a 2x2 block and a 1x3 bar; unset pixels get 0.
  at::Tensor m = at::zeros({1, 1, 4, 6}, at::kBool);
  m.slice(2, 0, 2).slice(3, 0, 2).fill_(true);
  m[0][0][3].slice(0, 3, 6).fill_(true);
  const at::Tensor a = ConnectedComponentAreas(m);
  EXPECT_EQ(a.scalar_type(), at::kInt);
  EXPECT_EQ(a.sizes(), m.sizes());
  EXPECT_EQ(a[0][0][0][0].item<int>(), 4);
  EXPECT_EQ(a[0][0][1][1].item<int>(), 4);
  EXPECT_EQ(a[0][0][3][4].item<int>(), 3);
  EXPECT_EQ(a[0][0][2][2].item<int>(), 0);
  EXPECT_EQ(a.sum().item<int>(), 4 * 4 + 3 * 3);
}

TEST(ConnectedComponentAreasTest, DiagonalNeighboursConnect) {
  // A diagonal line of 5 pixels is one component (8-connectivity).
  at::Tensor m = at::zeros({1, 1, 5, 5}, at::kByte);
  for (int i = 0; i < 5; ++i) m[0][0][i][i] = 1;
  const at::Tensor a = ConnectedComponentAreas(m);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(a[0][0][i][i].item<int>(), 5);
}

TEST(ConnectedComponentAreasTest, BatchElementsAreSeparate) {
  // The same 3-pixel bar in two batch elements: 3 each, not 6.
  at::Tensor m = at::zeros({2, 1, 3, 3}, at::kBool);
  m.select(2, 1).fill_(true);
  const at::Tensor a = ConnectedComponentAreas(m);
  EXPECT_EQ(a[0][0][1][0].item<int>(), 3);
  EXPECT_EQ(a[1][0][1][2].item<int>(), 3);
}

TEST(FillHolesTest, OnePixelHoleIsFilled) {
  const at::Tensor s = Scores(8, 8, {{4, 4}});
  const at::Tensor f = FillHolesInMaskScores(s, kMaxArea);
  at::Tensor expected = s.clone();
  expected[0][0][4][4] = 0.1f;  // only the hole changes
  EXPECT_TRUE(at::equal(f, expected));
}

TEST(FillHolesTest, EightPixelsAreAHoleNineAreNot) {
  // A 2x4 hole (8 pixels) and a 3x3 one (9), far apart.
  std::vector<std::pair<int, int>> bg = Rect(2, 2, 2, 4);
  for (const auto& p : Rect(10, 10, 3, 3)) bg.push_back(p);
  const at::Tensor f = FillHolesInMaskScores(Scores(16, 16, bg), kMaxArea);
  for (const auto& [y, x] : Rect(2, 2, 2, 4))
    EXPECT_FLOAT_EQ(At(f, y, x), 0.1f);
  for (const auto& [y, x] : Rect(10, 10, 3, 3)) {
    EXPECT_FLOAT_EQ(At(f, y, x), -1.0f);
  }
}

TEST(FillHolesTest, ZeroIsBackground) {
  at::Tensor s = at::ones({1, 1, 6, 6});
  s[0][0][2][3] = 0.0f;
  EXPECT_FLOAT_EQ(At(FillHolesInMaskScores(s, kMaxArea), 2, 3), 0.1f);
}

TEST(FillHolesTest, SmallBackgroundAtTheBorderIsFilledToo) {
  // The reference's holes are background components by area alone: a 2x2
  // corner region and a 1x3 notch in the top edge are filled; a larger
  // border region (the bottom two rows, 16 pixels) is not.
  std::vector<std::pair<int, int>> bg = Rect(0, 0, 2, 2);
  for (const auto& p : Rect(0, 4, 1, 3)) bg.push_back(p);
  for (const auto& p : Rect(6, 0, 2, 8)) bg.push_back(p);
  const at::Tensor f = FillHolesInMaskScores(Scores(8, 8, bg), kMaxArea);
  EXPECT_FLOAT_EQ(At(f, 0, 0), 0.1f);
  EXPECT_FLOAT_EQ(At(f, 1, 1), 0.1f);
  EXPECT_FLOAT_EQ(At(f, 0, 5), 0.1f);
  EXPECT_FLOAT_EQ(At(f, 7, 7), -1.0f);
  EXPECT_FLOAT_EQ(At(f, 6, 0), -1.0f);
}

TEST(FillHolesTest, DiagonallyTouchingHolesAreOneComponent) {
  // Two 5-pixel holes that touch only at a corner form one 10-pixel
  // component under 8-connectivity: not filled (each alone would be).
  std::vector<std::pair<int, int>> bg = {
      {2, 2}, {2, 3}, {2, 4}, {3, 2}, {3, 3}};
  for (const auto& p : std::vector<std::pair<int, int>>{
           {4, 4}, {4, 5}, {4, 6}, {5, 5}, {5, 6}}) {
    bg.push_back(p);
  }
  const at::Tensor f = FillHolesInMaskScores(Scores(10, 10, bg), kMaxArea);
  for (const auto& [y, x] : bg) EXPECT_FLOAT_EQ(At(f, y, x), -1.0f);
  // Apart (no shared corner) they are two holes of 5: both filled.
  std::vector<std::pair<int, int>> apart = {
      {2, 2}, {2, 3}, {2, 4}, {3, 2}, {3, 3}};
  for (const auto& p : std::vector<std::pair<int, int>>{
           {5, 5}, {5, 6}, {5, 7}, {6, 6}, {6, 7}}) {
    apart.push_back(p);
  }
  const at::Tensor g = FillHolesInMaskScores(Scores(10, 10, apart), kMaxArea);
  for (const auto& [y, x] : apart) EXPECT_FLOAT_EQ(At(g, y, x), 0.1f);
}

TEST(FillHolesTest, AllBackgroundStays) {
  const at::Tensor s = at::full({2, 1, 64, 64}, -1024.0f);
  EXPECT_TRUE(at::equal(FillHolesInMaskScores(s, kMaxArea), s));
}

class GoldensTest : public ::testing::Test {
 protected:
  static at::Tensor G(const std::string& key) {
    static const auto* dict = [] {
      auto d = checkpoint::LoadTensorDict(
          "sam2/inference/testdata/vos_postproc/cc.pt");
      if (!d.ok()) {
        ADD_FAILURE() << d.status();
        return new std::map<std::string, at::Tensor>;
      }
      auto* m = new std::map<std::string, at::Tensor>;
      for (auto& [k, v] : *d) (*m)[k] = v;
      return m;
    }();
    auto it = dict->find(key);
    if (it == dict->end()) {
      ADD_FAILURE() << "no golden " << key;
      return at::Tensor();
    }
    return it->second;
  }
};

TEST_F(GoldensTest, ComponentAreasMatch) {
  for (const std::string name : {"random", "small"}) {
    const at::Tensor mask = G("cc." + name + ".mask");
    const at::Tensor ref = G("cc." + name + ".areas");
    ASSERT_TRUE(mask.defined() && ref.defined());
    const at::Tensor ours = ConnectedComponentAreas(mask);
    EXPECT_TRUE(at::equal(ours, ref))
        << name << ": " << (ours != ref).sum().item<int64_t>()
        << " areas differ";
  }
}

TEST_F(GoldensTest, FilledScoresMatch) {
  const at::Tensor scores = G("fill.scores");
  const at::Tensor ref = G("fill.filled");
  ASSERT_TRUE(scores.defined() && ref.defined());
  const at::Tensor ours = FillHolesInMaskScores(scores, kMaxArea);
  EXPECT_GT((ref != scores).sum().item<int64_t>(), 0) << "goldens fill nothing";
  EXPECT_TRUE(at::equal(ours, ref))
      << (ours != ref).sum().item<int64_t>() << " scores differ";
}

}  // namespace
}  // namespace sam2::inference
