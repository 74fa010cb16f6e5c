#include "sam2/training/model/loss_fns.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace sam2::training {
namespace {

// Expected numbers come from the reference training/loss_fns.py on the same
// inputs (the deterministic patterns below, rebuilt in Python).

at::Tensor Pattern(at::IntArrayRef shape, double a, double b, double scale) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  const at::Tensor i = at::arange(n, at::kDouble);
  return (at::sin(a * i + b) * scale).to(at::kFloat).reshape(shape);
}

constexpr int64_t kT = 2, kN = 3, kH = 8, kW = 8;

at::Tensor Targets() {
  at::Tensor targets = at::zeros({kT, kN, kH, kW}, at::kBool);
  auto acc = targets.accessor<bool, 4>();
  for (int64_t t = 0; t < kT; ++t) {
    for (int64_t o = 0; o < kN; ++o) {
      for (int64_t y = 0; y < kH; ++y) {
        for (int64_t x = 0; x < kW; ++x) {
          const int64_t dy = y - 2 - o, dx = x - 3 - t;
          acc[t][o][y][x] = dy * dy + dx * dx <= 4 + o;
        }
      }
    }
  }
  targets[1][2].fill_(false);  // object 2 absent on frame 1
  return targets;
}

StepPrediction Step(int64_t m, int k) {
  return {Pattern({kN, m, kH, kW}, 0.37, 0.1 * k, 4.0),
          Pattern({kN, m}, 0.91, 0.3 + k, 0.5) + 0.5,
          Pattern({kN, 1}, 1.3, 0.7 * k, 3.0)};
}

std::vector<FramePrediction> Frames() {
  return {{Step(3, 0), Step(1, 1)}, {Step(1, 2)}};
}

MultiStepMultiMasksAndIousOptions MoseOptions() {
  MultiStepMultiMasksAndIousOptions o;
  o.weight_mask = 20;
  o.weight_dice = 1;
  o.weight_iou = 1;
  o.weight_class = 1;
  o.supervise_all_iou = true;
  o.iou_use_l1_loss = true;
  o.pred_obj_scores = true;
  o.focal_gamma_obj_score = 0.0;
  o.focal_alpha_obj_score = -1.0;
  return o;
}

void ExpectRel(const at::Tensor& value, double expected) {
  EXPECT_NEAR(value.item<double>(), expected,
              1e-6 * std::max(1.0, std::abs(expected)));
}

struct LossCase {
  bool supervise_all_iou;
  bool l1;
  double mask, dice, iou, cls, core;
};

TEST(MultiStepMultiMasksAndIousTest, MatchesReference) {
  const LossCase cases[] = {
      {true, true, 1.90684366, 1.67866826, 1.30127645, 0.830046177, 41.9468651},
      {true, false, 1.90684366, 1.67866826, 0.810222566, 0.830046177,
       41.4558105},
      {false, true, 1.90684366, 1.67866826, 1.46442652, 0.830046177,
       42.1100159},
      {false, false, 1.90684366, 1.67866826, 0.946639955, 0.830046177,
       41.5922279},
  };
  for (const LossCase& c : cases) {
    SCOPED_TRACE(testing::Message() << "supervise_all_iou="
                                    << c.supervise_all_iou << " l1=" << c.l1);
    MultiStepMultiMasksAndIousOptions o = MoseOptions();
    o.supervise_all_iou = c.supervise_all_iou;
    o.iou_use_l1_loss = c.l1;
    const LossTensors losses =
        MultiStepMultiMasksAndIous(o).Compute(Frames(), Targets());
    ExpectRel(losses.at(kLossMask), c.mask);
    ExpectRel(losses.at(kLossDice), c.dice);
    ExpectRel(losses.at(kLossIou), c.iou);
    ExpectRel(losses.at(kLossClass), c.cls);
    ExpectRel(losses.at(kCoreLossKey), c.core);
  }
}

TEST(MultiStepMultiMasksAndIousTest, WithoutObjectScoresEveryObjectCounts) {
  MultiStepMultiMasksAndIousOptions o;
  o.weight_mask = 20;
  const LossTensors losses =
      MultiStepMultiMasksAndIous(o).Compute(Frames(), Targets());
  ExpectRel(losses.at(kLossMask), 2.19444323);
  ExpectRel(losses.at(kLossDice), 2.00156498);
  ExpectRel(losses.at(kLossIou), 0.949059367);
  ExpectRel(losses.at(kLossClass), 0.0);
  ExpectRel(losses.at(kCoreLossKey), 46.8394928);
}

TEST(MultiStepMultiMasksAndIousTest, NumObjectsOverrideScalesLosses) {
  const MultiStepMultiMasksAndIous fn(MoseOptions());
  const LossTensors local = fn.Compute(Frames(), Targets());
  const LossTensors global = fn.Compute(Frames(), Targets(), 6.0);
  ExpectRel(global.at(kCoreLossKey), 41.9468651 / 2);
  EXPECT_EQ(local.size(), 5u);
}

TEST(MultiStepMultiMasksAndIousTest, GradientFlowsOnlyThroughBestMask) {
  std::vector<FramePrediction> frames = Frames();
  at::Tensor masks = frames[0][0].multimasks_high_res.clone().requires_grad_();
  frames[0][0].multimasks_high_res = masks;
  MultiStepMultiMasksAndIousOptions o = MoseOptions();
  const LossTensors losses =
      MultiStepMultiMasksAndIous(o).Compute(frames, Targets());
  losses.at(kCoreLossKey).backward();
  // Each object gets gradient on exactly one of its 3 masks (IoU loss has no
  // gradient w.r.t. the masks: they are binarised).
  const at::Tensor has_grad = masks.grad().abs().flatten(2).sum(-1) > 0;
  EXPECT_TRUE(at::equal(has_grad.sum(1), at::ones({kN}, at::kLong)));
}

TEST(LossFunctionsTest, DiceAndFocalMatchReference) {
  const at::Tensor m = Pattern({kN, 3, kH, kW}, 0.37, 0.0, 4.0);
  const at::Tensor tg = Targets()[0].unsqueeze(1).to(at::kFloat).expand_as(m);
  const std::vector<double> dice = {
      0.350434809923172,   0.35485827922821045, 0.34940364956855774,
      0.2989937663078308,  0.3102293908596039,  0.296245276927948,
      0.30497539043426514, 0.28252846002578735, 0.2860272526741028};
  const std::vector<double> focal = {
      0.40340471267700195, 0.4181573688983917,  0.3546881675720215,
      0.3247729539871216,  0.3654506802558899,  0.39112699031829834,
      0.3426411747932434,  0.31405386328697205, 0.3055866062641144};
  const at::Tensor d = DiceLoss(m, tg, 2.0, true).flatten();
  const at::Tensor f = SigmoidFocalLoss(m, tg, 2.0, 0.25, 2.0, true).flatten();
  for (int i = 0; i < 9; ++i) {
    EXPECT_NEAR(d[i].item<double>(), dice[i], 1e-6);
    EXPECT_NEAR(f[i].item<double>(), focal[i], 1e-6);
  }
  const at::Tensor flat_m = m.select(1, 0).flatten(1);
  const at::Tensor flat_t = tg.select(1, 0).flatten(1);
  ExpectRel(DiceLoss(flat_m, flat_t, 2.0), 0.9544039964675903);
  ExpectRel(SigmoidFocalLoss(flat_m, flat_t, 2.0, 0.4, 1.5),
            0.9999185800552368);
}

TEST(LossFunctionsTest, IouLossUsesBinarisedMasks) {
  // One object, two masks: the first equals the target (IoU 1), the second is
  // empty (IoU 0).
  at::Tensor target = at::zeros({1, 2, 4, 4});
  target.narrow(2, 0, 2).fill_(1);
  at::Tensor logits = at::full({1, 2, 4, 4}, -5.0);
  logits[0][0].narrow(0, 0, 2).fill_(5.0);
  const at::Tensor pred = at::tensor({0.75f, 0.5f}).reshape({1, 2});
  const at::Tensor l1 = IouLoss(logits, target, pred, 1.0, true, true);
  EXPECT_NEAR(l1[0][0].item<double>(), 0.25, 1e-7);
  EXPECT_NEAR(l1[0][1].item<double>(), 0.5, 1e-7);
  const at::Tensor mse = IouLoss(logits, target, pred, 2.0, false, false);
  EXPECT_NEAR(mse.item<double>(), (0.0625 + 0.25) / 2, 1e-7);
}

}  // namespace
}  // namespace sam2::training

namespace sam2::training {
namespace {

// The multimask focal and dice losses run as one autograd node with a
// closed-form gradient; its gradient must equal autograd's through
// SigmoidFocalLoss and DiceLoss (their values are covered by MatchesReference).
void ExpectFusedGradientMatchesOpByOp(double alpha, double gamma) {
  std::vector<FramePrediction> frames = Frames();
  const at::Tensor logits = frames[0][0].multimasks_high_res;
  MultiStepMultiMasksAndIousOptions o = MoseOptions();
  o.focal_alpha = alpha;
  o.focal_gamma = gamma;
  o.weight_dice = 3.0;
  const double num_objects = 2.5;

  // Fused: frame 0's losses; only its first step's masks require gradient,
  // and only the mask and dice terms depend on them (IoU and class do not).
  at::Tensor fused_in = logits.clone().requires_grad_();
  frames[0][0].multimasks_high_res = fused_in;
  const LossTensors fused = MultiStepMultiMasksAndIous(o).Compute(
      {frames[0]}, Targets().narrow(0, 0, 1), num_objects);
  (fused.at(kLossMask) * o.weight_mask + fused.at(kLossDice) * o.weight_dice)
      .backward();

  // Op by op: the same step's terms through the best mask of each object.
  at::Tensor plain_in = logits.clone().requires_grad_();
  const at::Tensor targets =
      Targets()[0].unsqueeze(1).to(at::kFloat).expand_as(plain_in);
  const at::Tensor focal =
      SigmoidFocalLoss(plain_in, targets, num_objects, alpha, gamma, true);
  const at::Tensor dice = DiceLoss(plain_in, targets, num_objects, true);
  const at::Tensor present = (targets.select(1, 0) > 0)
                                 .flatten(1)
                                 .any(-1)
                                 .unsqueeze(-1)
                                 .to(at::kFloat);
  const at::Tensor best =
      at::argmin(focal * o.weight_mask + dice * o.weight_dice, -1).unsqueeze(1);
  ((focal.gather(1, best) * present).sum() * o.weight_mask +
   (dice.gather(1, best) * present).sum() * o.weight_dice)
      .backward();

  const at::Tensor a = fused_in.grad(), b = plain_in.grad();
  ASSERT_TRUE(a.defined() && b.defined());
  const double scale = b.abs().max().item<double>();
  ASSERT_GT(scale, 0);
  EXPECT_LE((a - b).abs().max().item<double>(), 1e-5 * scale)
      << "alpha " << alpha << " gamma " << gamma;
}

// On the CPU in float the mask terms run through the one-pass kernels; in
// double through the ops. Masks of 130 x 160 pixels split into two runs
// each; the targets are expanded over each object's three masks.
TEST(MultiStepMultiMasksAndIousTest, KernelsInFloatMatchTheOpsInDouble) {
  constexpr int64_t kObjects = 2, kHeight = 130, kWidth = 160;
  const at::Tensor targets =
      Pattern({1, kObjects, kHeight, kWidth}, 0.011, 0.4, 1.0) > 0.3;
  const at::Tensor logits =
      Pattern({kObjects, 3, kHeight, kWidth}, 0.0023, 0.9, 9.0);
  for (const double gamma : {2.0, 0.0}) {
    SCOPED_TRACE(testing::Message() << "gamma " << gamma);
    MultiStepMultiMasksAndIousOptions o = MoseOptions();
    o.focal_gamma = gamma;
    LossTensors losses[2];
    at::Tensor grads[2];
    for (int precision = 0; precision < 2; ++precision) {
      at::Tensor in = logits
                          .to(precision == 0 ? at::kFloat : at::kDouble,
                              /*non_blocking=*/false, /*copy=*/true)
                          .requires_grad_();
      StepPrediction step{in, Pattern({kObjects, 3}, 0.91, 0.3, 0.5) + 0.5,
                          Pattern({kObjects, 1}, 1.3, 0.7, 3.0)};
      losses[precision] =
          MultiStepMultiMasksAndIous(o).Compute({{step}}, targets, 2.0);
      losses[precision].at(kCoreLossKey).backward();
      grads[precision] = in.grad().to(at::kDouble);
    }
    for (const char* key : {kLossMask, kLossDice, kLossIou, kCoreLossKey}) {
      const double expected = losses[1].at(key).item<double>();
      EXPECT_NEAR(losses[0].at(key).item<double>(), expected,
                  1e-6 * std::max(1.0, std::abs(expected)))
          << key;
    }
    const double scale = grads[1].abs().max().item<double>();
    ASSERT_GT(scale, 0);
    EXPECT_LE((grads[0] - grads[1]).abs().max().item<double>(), 1e-5 * scale);
    // Only the best of each object's masks gets a gradient.
    EXPECT_TRUE(at::equal((grads[0].abs().flatten(2).sum(-1) > 0).sum(1),
                          at::ones({kObjects}, at::kLong)));
  }
}

TEST(MultiStepMultiMasksAndIousTest, FusedFocalDiceGradientEqualsAutograd) {
  ExpectFusedGradientMatchesOpByOp(0.25, 2.0);
  ExpectFusedGradientMatchesOpByOp(-1.0, 2.0);
  ExpectFusedGradientMatchesOpByOp(0.25, 0.0);
  ExpectFusedGradientMatchesOpByOp(0.5, 1.5);
}

}  // namespace
}  // namespace sam2::training
