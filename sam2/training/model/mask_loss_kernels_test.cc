#include "sam2/training/model/mask_loss_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace sam2::training::internal {
namespace {

// The terms in double, straight from their definitions (the reference's
// training/loss_fns.py): p = sigmoid(x), ce = BCE with logits,
// focal = a_t ce (1 - p_t)^gamma.
struct Exact {
  double prob, ce, focal, dfocal, dprob;
};

Exact ExactTerms(double x, double t, double alpha, int gamma) {
  Exact e;
  e.prob = 1 / (1 + std::exp(-x));
  e.ce = std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::abs(x)));
  const double q = 1 - (e.prob * t + (1 - e.prob) * (1 - t));
  const double a_t = alpha >= 0 ? alpha * t + (1 - alpha) * (1 - t) : 1;
  e.focal = a_t * e.ce * std::pow(q, gamma);
  e.dprob = e.prob * (1 - e.prob);
  e.dfocal = a_t * ((e.prob - t) * std::pow(q, gamma) -
                    (gamma > 0 ? e.ce * gamma * std::pow(q, gamma - 1) *
                                     (2 * t - 1) * e.dprob
                               : 0));
  return e;
}

// Logits from -100 to 100 (most within +-12) and targets in [0, 1],
// half of them 0 or 1.
void Inputs(int64_t n, std::vector<float>& logits,
            std::vector<float>& targets) {
  logits.resize(n);
  targets.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    logits[i] = static_cast<float>(12 * std::sin(0.37 * i + 0.2));
    if (i % 97 == 0) logits[i] = (i % 2 ? 100.0f : -100.0f);
    if (i % 89 == 0) logits[i] = 0;
    const double u = 0.5 + 0.5 * std::sin(1.13 * i);
    targets[i] = i % 2 ? static_cast<float>(u > 0.5) : static_cast<float>(u);
  }
}

TEST(MaskLossKernels, SumsMatchTheDefinitionsInDouble) {
  for (int gamma : {0, 1, 2, 3}) {
    for (double alpha : {0.25, -1.0}) {
      for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1023}, int64_t{5000}}) {
        SCOPED_TRACE(testing::Message() << "gamma " << gamma << " alpha "
                                        << alpha << " pixels " << n);
        std::vector<float> x, t;
        Inputs(n, x, t);
        MaskLossSums sums;
        AccumulateMaskLossSums(x.data(), t.data(), n, alpha, gamma, sums);
        double focal = 0, prob_target = 0, prob = 0, target = 0;
        int64_t intersection = 0, union_area = 0;
        for (int64_t i = 0; i < n; ++i) {
          const Exact e = ExactTerms(x[i], t[i], alpha, gamma);
          focal += e.focal;
          prob_target += e.prob * t[i];
          prob += e.prob;
          target += t[i];
          intersection += x[i] > 0 && t[i] > 0;
          union_area += x[i] > 0 || t[i] > 0;
        }
        EXPECT_NEAR(sums.focal, focal, 1e-6 * std::max(1.0, focal));
        EXPECT_NEAR(sums.prob_target, prob_target,
                    1e-6 * std::max(1.0, prob_target));
        EXPECT_NEAR(sums.prob, prob, 1e-6 * std::max(1.0, prob));
        EXPECT_NEAR(sums.target, target, 1e-6 * std::max(1.0, target));
        EXPECT_EQ(sums.intersection, intersection);
        EXPECT_EQ(sums.union_area, union_area);
      }
    }
  }
}

TEST(MaskLossKernels, SumsAccumulateOntoWhatIsThere) {
  std::vector<float> x, t;
  Inputs(3000, x, t);
  MaskLossSums whole, parts;
  AccumulateMaskLossSums(x.data(), t.data(), 3000, 0.25, 2, whole);
  AccumulateMaskLossSums(x.data(), t.data(), 1000, 0.25, 2, parts);
  AccumulateMaskLossSums(x.data() + 1000, t.data() + 1000, 2000, 0.25, 2,
                         parts);
  EXPECT_NEAR(parts.focal, whole.focal, 1e-6 * whole.focal);
  EXPECT_NEAR(parts.prob, whole.prob, 1e-6 * whole.prob);
  EXPECT_EQ(parts.intersection, whole.intersection);
  EXPECT_EQ(parts.union_area, whole.union_area);
}

TEST(MaskLossKernels, GradientMatchesTheDefinitionsInDouble) {
  const int64_t n = 4099;
  std::vector<float> x, t;
  Inputs(n, x, t);
  for (int gamma : {0, 1, 2, 3}) {
    for (double alpha : {0.25, -1.0}) {
      SCOPED_TRACE(testing::Message()
                   << "gamma " << gamma << " alpha " << alpha);
      MaskLossGradScales scales;
      scales.focal_scale = 0.3f;
      scales.dice_offset = 0.02f;
      scales.dice_slope = 0.05f;
      std::vector<float> grad(n, -1.0f);
      MaskLossGradient(x.data(), t.data(), n, alpha, gamma, scales,
                       grad.data());
      double worst = 0, largest = 0;
      for (int64_t i = 0; i < n; ++i) {
        const Exact e = ExactTerms(x[i], t[i], alpha, gamma);
        const double expected =
            double{scales.focal_scale} * e.dfocal +
            (double{scales.dice_offset} - double{scales.dice_slope} * t[i]) *
                e.dprob;
        worst = std::max(worst, std::abs(grad[i] - expected));
        largest = std::max(largest, std::abs(expected));
      }
      ASSERT_GT(largest, 0.01);
      EXPECT_LE(worst, 1e-6 * largest);
    }
  }
}

TEST(MaskLossKernels, TakesTheIntegerGammasOnly) {
  for (double gamma : {0.0, 1.0, 2.0, 3.0}) {
    EXPECT_TRUE(MaskLossKernelsSupportGamma(gamma));
  }
  for (double gamma : {-1.0, 0.5, 1.5, 4.0}) {
    EXPECT_FALSE(MaskLossKernelsSupportGamma(gamma));
  }
}

}  // namespace
}  // namespace sam2::training::internal
