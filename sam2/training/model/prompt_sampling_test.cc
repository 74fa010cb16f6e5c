#include "sam2/training/model/prompt_sampling.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

namespace sam2::training {
namespace {

constexpr int64_t kH = 37, kW = 45;

at::Tensor Disc(int64_t cy, int64_t cx, int64_t r2) {
  const at::Tensor yy = at::arange(kH).unsqueeze(1);
  const at::Tensor xx = at::arange(kW).unsqueeze(0);
  return ((yy - cy).pow(2) + (xx - cx).pow(2)) <= r2;
}

at::Tensor Rect(int64_t y0, int64_t x0, int64_t y1, int64_t x1) {
  at::Tensor m = at::zeros({kH, kW}, at::kBool);
  m.narrow(0, y0, y1 - y0).narrow(1, x0, x1 - x0).fill_(true);
  return m;
}

at::Tensor Empty() { return at::zeros({kH, kW}, at::kBool); }

at::Tensor Stack(const std::vector<at::Tensor>& masks) {
  return at::stack(masks).unsqueeze(1);
}

// Cases of the reference test (gt, pred); the expected clicks come from the
// reference sample_one_point_from_error_center (OpenCV 4.6 in Python).
at::Tensor CaseGt() {
  return Stack({Disc(18, 20, 100), Disc(18, 20, 100), Disc(10, 10, 30),
                Disc(18, 20, 100), Rect(0, 0, 10, 12), Rect(5, 30, 37, 45),
                Empty()});
}
at::Tensor CasePred() {
  return Stack({Empty(), Disc(20, 25, 100), Disc(12, 14, 120),
                Disc(18, 20, 100), Empty(), Rect(0, 0, 37, 20),
                Rect(3, 3, 9, 9)});
}

std::vector<std::vector<int>> Coords(const PointPrompt& p) {
  std::vector<std::vector<int>> out;
  const at::Tensor c = p.coords.to(at::kInt);
  for (int64_t i = 0; i < c.size(0); ++i) {
    for (int64_t j = 0; j < c.size(1); ++j) {
      out.push_back({c[i][j][0].item<int>(), c[i][j][1].item<int>()});
    }
  }
  return out;
}

std::vector<int> Labels(const PointPrompt& p) {
  const at::Tensor l = p.labels.flatten().contiguous();
  return std::vector<int>(l.data_ptr<int>(), l.data_ptr<int>() + l.numel());
}

using ::testing::ElementsAreArray;

TEST(SampleOnePointFromErrorCenterTest, MatchesReferenceWithPadding) {
  const PointPrompt p = SampleOnePointFromErrorCenter(CaseGt(), CasePred());
  EXPECT_EQ(p.coords.sizes(), (std::vector<int64_t>{7, 1, 2}));
  EXPECT_EQ(p.labels.scalar_type(), at::kInt);
  const std::vector<std::vector<int>> expected = {
      {20, 18}, {32, 21}, {20, 10}, {0, 0}, {4, 4}, {9, 9}, {5, 5}};
  EXPECT_EQ(Coords(p), expected);
  EXPECT_THAT(Labels(p), ElementsAreArray({1, 0, 0, 0, 1, 0, 0}));
}

TEST(SampleOnePointFromErrorCenterTest, MatchesReferenceWithoutPadding) {
  const PointPrompt p =
      SampleOnePointFromErrorCenter(CaseGt(), CasePred(), /*padding=*/false);
  const std::vector<std::vector<int>> expected = {
      {20, 18}, {32, 21}, {20, 10}, {0, 0}, {0, 0}, {0, 0}, {5, 5}};
  EXPECT_EQ(Coords(p), expected);
  EXPECT_THAT(Labels(p), ElementsAreArray({1, 0, 0, 0, 1, 0, 0}));
}

TEST(SampleOnePointFromErrorCenterTest, UndefinedPredictionMeansEmpty) {
  const at::Tensor gt = CaseGt();
  const PointPrompt a = SampleOnePointFromErrorCenter(gt, at::Tensor());
  const PointPrompt b = SampleOnePointFromErrorCenter(gt, at::zeros_like(gt));
  EXPECT_TRUE(at::equal(a.coords, b.coords));
  EXPECT_TRUE(at::equal(a.labels, b.labels));
}

TEST(MaskToBoxTest, MatchesReference) {
  const at::Tensor boxes = MaskToBox(CaseGt());
  EXPECT_EQ(boxes.scalar_type(), at::kInt);
  const at::Tensor expected =
      at::tensor({10, 8,  30, 28, 10, 8, 30, 28, 5,  5,  15, 15, 10, 8,
                  30, 28, 0,  0,  11, 9, 30, 5,  44, 36, 45, 37, -1, -1},
                 at::kInt)
          .reshape({7, 1, 4});
  EXPECT_TRUE(at::equal(boxes, expected));
}

TEST(SampleBoxPointsTest, WithoutNoiseGivesTheBox) {
  PromptRng rng(1);
  const PointPrompt p = SampleBoxPoints(CaseGt().narrow(0, 0, 3), rng, 0.0);
  EXPECT_EQ(p.coords.sizes(), (std::vector<int64_t>{3, 2, 2}));
  const std::vector<std::vector<int>> expected = {{10, 8},  {30, 28}, {10, 8},
                                                  {30, 28}, {5, 5},   {15, 15}};
  EXPECT_EQ(Coords(p), expected);
  EXPECT_THAT(Labels(p), ElementsAreArray({2, 3, 2, 3, 2, 3}));
}

TEST(SampleBoxPointsTest, NoiseIsBoundedAndClamped) {
  PromptRng rng(7);
  const at::Tensor masks = CaseGt().narrow(0, 0, 6);
  const at::Tensor boxes = MaskToBox(masks).to(at::kFloat).reshape({-1, 2, 2});
  std::set<float> distinct;
  for (int trial = 0; trial < 200; ++trial) {
    const PointPrompt p = SampleBoxPoints(masks, rng, 0.1, 1.5);
    for (int64_t i = 0; i < 6; ++i) {
      const at::Tensor b = boxes[i];
      const double w = (b[1][0] - b[0][0]).item<double>();
      const double h = (b[1][1] - b[0][1]).item<double>();
      const double max_dx = std::min(0.1 * w, 1.5),
                   max_dy = std::min(0.1 * h, 1.5);
      for (int c = 0; c < 2; ++c) {
        const double x = p.coords[i][c][0].item<double>();
        const double y = p.coords[i][c][1].item<double>();
        EXPECT_GE(x, 0);
        EXPECT_LE(x, kW - 1);
        EXPECT_GE(y, 0);
        EXPECT_LE(y, kH - 1);
        EXPECT_LE(std::abs(x - b[c][0].item<double>()), max_dx + 1e-5);
        EXPECT_LE(std::abs(y - b[c][1].item<double>()), max_dy + 1e-5);
        distinct.insert(static_cast<float>(x));
      }
    }
  }
  EXPECT_GT(distinct.size(), 100u);  // the noise is really random
}

TEST(SampleRandomPointsFromErrorsTest, ClicksLieInTheErrorWithTheRightLabel) {
  PromptRng rng(3);
  const at::Tensor gt = CaseGt();
  const at::Tensor pred = CasePred();
  const at::Tensor fp = pred & ~gt;
  const at::Tensor fn = gt & ~pred;
  const PointPrompt p = SampleRandomPointsFromErrors(gt, pred, rng, 50);
  EXPECT_EQ(p.coords.sizes(), (std::vector<int64_t>{7, 50, 2}));
  for (int64_t i = 0; i < 7; ++i) {
    const bool all_correct = at::equal(gt[i], pred[i]);
    for (int64_t j = 0; j < 50; ++j) {
      const int64_t x = p.coords[i][j][0].item<int64_t>();
      const int64_t y = p.coords[i][j][1].item<int64_t>();
      const int label = p.labels[i][j].item<int>();
      if (label == 1) {
        EXPECT_TRUE(fn[i][0][y][x].item<bool>());
      } else if (all_correct) {
        EXPECT_FALSE(gt[i][0][y][x].item<bool>());
      } else {
        EXPECT_TRUE(fp[i][0][y][x].item<bool>());
      }
    }
  }
}

TEST(SampleRandomPointsFromErrorsTest, UniformOverTheErrorRegion) {
  // Error region: 3 false-negative pixels and 1 false-positive pixel; each
  // must be drawn about a quarter of the time.
  at::Tensor gt = at::zeros({1, 1, 4, 4}, at::kBool);
  at::Tensor pred = at::zeros({1, 1, 4, 4}, at::kBool);
  gt[0][0][1].narrow(0, 0, 3).fill_(true);
  pred[0][0][3][3] = true;
  PromptRng rng(11);
  const PointPrompt p = SampleRandomPointsFromErrors(gt, pred, rng, 8000);
  std::map<std::vector<int>, int> counts;
  const std::vector<std::vector<int>> coords = Coords(p);
  const std::vector<int> labels = Labels(p);
  for (size_t k = 0; k < coords.size(); ++k) {
    std::vector<int> key = coords[k];
    key.push_back(labels[k]);
    ++counts[key];
  }
  ASSERT_EQ(counts.size(), 4u);
  EXPECT_EQ(counts.count({3, 3, 0}), 1u);
  for (const auto& [key, n] : counts) EXPECT_NEAR(n, 2000, 200);
}

TEST(SampleRandomPointsFromErrorsTest, SameSeedSameClicks) {
  PromptRng a(5), b(5);
  const PointPrompt pa = SampleRandomPointsFromErrors(CaseGt(), CasePred(), a);
  const PointPrompt pb = SampleRandomPointsFromErrors(CaseGt(), CasePred(), b);
  EXPECT_TRUE(at::equal(pa.coords, pb.coords));
  EXPECT_TRUE(at::equal(pa.labels, pb.labels));
}

TEST(SampleRandomPointsFromErrorsTest, NothingToSampleGivesOriginNegative) {
  // All foreground and predicted correctly: no background to click on.
  const at::Tensor gt = at::ones({1, 1, 3, 3}, at::kBool);
  PromptRng rng(1);
  const PointPrompt p = SampleRandomPointsFromErrors(gt, gt, rng);
  EXPECT_EQ(Coords(p), (std::vector<std::vector<int>>{{0, 0}}));
  EXPECT_THAT(Labels(p), ElementsAreArray({0}));
}

TEST(PromptRngTest, Helpers) {
  PromptRng rng(2);
  std::map<int64_t, int> counts;
  for (int i = 0; i < 3000; ++i) ++counts[UniformInt(rng, 1, 3)];
  ASSERT_EQ(counts.size(), 3u);
  for (const auto& [v, n] : counts) EXPECT_NEAR(n, 1000, 120);
  for (int i = 0; i < 1000; ++i) {
    const double u = Uniform01(rng);
    const float f = Uniform01f(rng);
    EXPECT_TRUE(u >= 0 && u < 1);
    EXPECT_TRUE(f >= 0 && f < 1);
  }
  const std::vector<int64_t> chosen =
      ChooseWithoutReplacement(rng, {4, 5, 6, 7, 8}, 3);
  EXPECT_EQ(chosen.size(), 3u);
  EXPECT_EQ(std::set<int64_t>(chosen.begin(), chosen.end()).size(), 3u);
  for (int64_t c : chosen) EXPECT_TRUE(c >= 4 && c <= 8);
}

TEST(ConcatPointsTest, AppendsAlongPoints) {
  const PointPrompt a{at::zeros({2, 1, 2}), at::ones({2, 1}, at::kInt)};
  const PointPrompt b{at::ones({2, 1, 2}), at::zeros({2, 1}, at::kInt)};
  const PointPrompt c = ConcatPoints(a, b);
  EXPECT_EQ(c.coords.sizes(), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_THAT(Labels(c), ElementsAreArray({1, 0, 1, 0}));
  const PointPrompt d = ConcatPoints(PointPrompt{}, b);
  EXPECT_TRUE(at::equal(d.coords, b.coords));
}

}  // namespace
}  // namespace sam2::training
