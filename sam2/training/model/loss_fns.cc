#include "sam2/training/model/loss_fns.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <utility>

namespace sam2::training {

at::Tensor DiceLoss(const at::Tensor& inputs, const at::Tensor& targets,
                    double num_objects, bool loss_on_multimask) {
  at::Tensor probs = inputs.sigmoid();
  at::Tensor flat_targets = targets;
  at::Tensor numerator;
  if (loss_on_multimask) {
    TORCH_CHECK(probs.dim() == 4 && targets.dim() == 4,
                "DiceLoss: multimask inputs and targets must be [N, M, H, W]");
    probs = probs.flatten(2);
    flat_targets = targets.flatten(2);
    numerator = 2 * (probs * flat_targets).sum(-1);
  } else {
    probs = probs.flatten(1);
    numerator = 2 * (probs * flat_targets).sum(1);
  }
  const at::Tensor denominator = probs.sum(-1) + flat_targets.sum(-1);
  const at::Tensor loss = 1 - (numerator + 1) / (denominator + 1);
  if (loss_on_multimask) return loss / num_objects;
  return loss.sum() / num_objects;
}

at::Tensor SigmoidFocalLoss(const at::Tensor& inputs, const at::Tensor& targets,
                            double num_objects, double alpha, double gamma,
                            bool loss_on_multimask) {
  const at::Tensor prob = inputs.sigmoid();
  const at::Tensor ce_loss = at::binary_cross_entropy_with_logits(
      inputs, targets, /*weight=*/{}, /*pos_weight=*/{}, at::Reduction::None);
  const at::Tensor p_t = prob * targets + (1 - prob) * (1 - targets);
  at::Tensor loss = ce_loss * at::pow(1 - p_t, gamma);
  if (alpha >= 0) {
    const at::Tensor alpha_t = alpha * targets + (1 - alpha) * (1 - targets);
    loss = alpha_t * loss;
  }
  if (loss_on_multimask) {
    TORCH_CHECK(loss.dim() == 4,
                "SigmoidFocalLoss: multimask inputs must be [N, M, H, W]");
    return loss.flatten(2).mean(-1) / num_objects;
  }
  return loss.mean(1).sum() / num_objects;
}

at::Tensor IouLoss(const at::Tensor& inputs, const at::Tensor& targets,
                   const at::Tensor& pred_ious, double num_objects,
                   bool loss_on_multimask, bool use_l1_loss) {
  TORCH_CHECK(inputs.dim() == 4 && targets.dim() == 4,
              "IouLoss: inputs and targets must be [N, M, H, W]");
  const at::Tensor pred_mask = inputs.flatten(2) > 0;
  const at::Tensor gt_mask = targets.flatten(2) > 0;
  const at::Tensor area_i = (pred_mask & gt_mask).sum(-1).to(at::kFloat);
  const at::Tensor area_u = (pred_mask | gt_mask).sum(-1).to(at::kFloat);
  const at::Tensor actual_ious = area_i / at::clamp_min(area_u, 1.0);
  const at::Tensor loss =
      use_l1_loss ? at::l1_loss(pred_ious, actual_ious, at::Reduction::None)
                  : at::mse_loss(pred_ious, actual_ious, at::Reduction::None);
  if (loss_on_multimask) return loss / num_objects;
  return loss.sum() / num_objects;
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The focal and dice losses of every output mask, [N, M] each (before the
// division by num_objects), as one autograd node. The forward values are
// those of SigmoidFocalLoss and DiceLoss (the same ATen ops in the same
// order, so bitwise equal); the backward pass is the closed form of their
// gradient. Recorded op by op, the two losses keep about ten [N, M, H, W]
// intermediates of every prompting step alive until the backward pass (most
// of a small model's activation memory at 256 px and more); this node keeps
// only the logits and the targets, which the step holds anyway.
class MultimaskFocalDice : public torch::autograd::Function<MultimaskFocalDice> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& logits,
                               const at::Tensor& targets, double alpha,
                               double gamma) {
    const at::Tensor prob = logits.sigmoid();
    const at::Tensor ce = at::binary_cross_entropy_with_logits(
        logits, targets, /*weight=*/{}, /*pos_weight=*/{},
        at::Reduction::None);
    const at::Tensor p_t = prob * targets + (1 - prob) * (1 - targets);
    at::Tensor focal = ce * at::pow(1 - p_t, gamma);
    if (alpha >= 0) {
      focal = (alpha * targets + (1 - alpha) * (1 - targets)) * focal;
    }
    focal = focal.flatten(2).mean(-1);
    const at::Tensor probs = prob.flatten(2);
    const at::Tensor flat_targets = targets.flatten(2);
    const at::Tensor numerator = 2 * (probs * flat_targets).sum(-1);
    const at::Tensor denominator = probs.sum(-1) + flat_targets.sum(-1);
    const at::Tensor dice = 1 - (numerator + 1) / (denominator + 1);
    ctx->save_for_backward({logits, targets, numerator, denominator});
    ctx->saved_data["alpha"] = alpha;
    ctx->saved_data["gamma"] = gamma;
    return {focal, dice};
  }

  static variable_list backward(AutogradContext* ctx,
                                variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& logits = saved[0];
    const at::Tensor& targets = saved[1];
    const double alpha = ctx->saved_data["alpha"].toDouble();
    const double gamma = ctx->saved_data["gamma"].toDouble();
    const auto per_mask = [](const at::Tensor& t) {
      return t.unsqueeze(-1).unsqueeze(-1);
    };
    const at::Tensor prob = logits.sigmoid();
    const at::Tensor dprob = prob * (1 - prob);  // d sigmoid / d logit
    at::Tensor grad = at::zeros_like(logits);
    if (grad_outputs[0].defined()) {
      // focal = a_t ce q^gamma, q = 1 - p_t; dce = p - t,
      // dq = -(2 t - 1) sigmoid'.
      const at::Tensor q = 1 - (prob * targets + (1 - prob) * (1 - targets));
      at::Tensor delement = (prob - targets) * at::pow(q, gamma);
      if (gamma != 0) {
        const at::Tensor ce = at::binary_cross_entropy_with_logits(
            logits, targets, /*weight=*/{}, /*pos_weight=*/{},
            at::Reduction::None);
        delement -= ce * (gamma * at::pow(q, gamma - 1)) * (2 * targets - 1) *
                    dprob;
      }
      if (alpha >= 0) {
        delement *= alpha * targets + (1 - alpha) * (1 - targets);
      }
      const double pixels = static_cast<double>(logits.size(2) * logits.size(3));
      grad += per_mask(grad_outputs[0] / pixels) * delement;
    }
    if (grad_outputs[1].defined()) {
      // dice = 1 - (n + 1) / (d + 1), n = 2 sum p t, d = sum p + sum t.
      const at::Tensor n1 = per_mask(saved[2] + 1);
      const at::Tensor d1 = per_mask(saved[3] + 1);
      const at::Tensor ddice = (n1 - 2 * targets * d1) / (d1 * d1);
      grad += per_mask(grad_outputs[1]) * ddice * dprob;
    }
    return {grad, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

MultiStepMultiMasksAndIous::MultiStepMultiMasksAndIous(
    const MultiStepMultiMasksAndIousOptions& options)
    : options_(options) {}

double MultiStepMultiMasksAndIous::LocalNumObjects(const at::Tensor& targets) {
  TORCH_CHECK(targets.dim() == 4, "targets must be [T, N, H, W]");
  return static_cast<double>(targets.size(1));
}

namespace {

// losses[key] += value, where a missing key counts as 0.
void Accumulate(LossTensors& losses, const std::string& key,
                const at::Tensor& value) {
  auto it = losses.find(key);
  if (it == losses.end()) {
    losses.emplace(key, value);
  } else {
    it->second = it->second + value;
  }
}

}  // namespace

LossTensors MultiStepMultiMasksAndIous::Compute(
    const std::vector<FramePrediction>& frames, const at::Tensor& targets,
    double num_objects) const {
  TORCH_CHECK(targets.dim() == 4, "targets must be [T, N, H, W]");
  TORCH_CHECK(static_cast<int64_t>(frames.size()) == targets.size(0),
              "MultiStepMultiMasksAndIous: ", frames.size(),
              " frames of predictions for ", targets.size(0),
              " frames of targets");
  if (num_objects <= 0) num_objects = std::max(1.0, LocalNumObjects(targets));
  LossTensors losses;
  for (size_t t = 0; t < frames.size(); ++t) {
    const LossTensors frame_losses =
        FrameLosses(frames[t], targets[static_cast<int64_t>(t)], num_objects);
    for (const auto& [key, value] : frame_losses) {
      Accumulate(losses, key, value);
    }
  }
  return losses;
}

LossTensors MultiStepMultiMasksAndIous::FrameLosses(
    const FramePrediction& steps, const at::Tensor& targets,
    double num_objects) const {
  const at::Tensor target_masks = targets.unsqueeze(1).to(at::kFloat);
  LossTensors losses;
  for (const StepPrediction& step : steps) {
    AddStepLosses(step, target_masks, num_objects, losses);
  }
  TORCH_CHECK(!steps.empty(), "a frame without predictions");
  losses[kCoreLossKey] = ReduceLoss(losses);
  return losses;
}

void MultiStepMultiMasksAndIous::AddStepLosses(const StepPrediction& step,
                                               const at::Tensor& target_masks_1,
                                               double num_objects,
                                               LossTensors& losses) const {
  const at::Tensor& src_masks = step.multimasks_high_res;
  const at::Tensor target_masks = target_masks_1.expand_as(src_masks);
  TORCH_CHECK(src_masks.dim() == 4,
              "multimask predictions must be [N, M, H, W]");
  // SigmoidFocalLoss and DiceLoss with loss_on_multimask, in one node.
  const variable_list focal_dice = MultimaskFocalDice::apply(
      src_masks, target_masks, options_.focal_alpha, options_.focal_gamma);
  const at::Tensor loss_multimask = focal_dice[0] / num_objects;
  const at::Tensor loss_multidice = focal_dice[1] / num_objects;
  at::Tensor loss_class;
  at::Tensor target_obj;
  if (!options_.pred_obj_scores) {
    loss_class = at::zeros({}, loss_multimask.options());
    target_obj =
        at::ones({loss_multimask.size(0), 1}, loss_multimask.options());
  } else {
    target_obj = (target_masks.select(1, 0) > 0)
                     .flatten(1)
                     .any(-1)
                     .unsqueeze(-1)
                     .to(at::kFloat);
    loss_class = SigmoidFocalLoss(step.object_score_logits, target_obj,
                                  num_objects, options_.focal_alpha_obj_score,
                                  options_.focal_gamma_obj_score);
  }
  const at::Tensor loss_multiiou =
      IouLoss(src_masks, target_masks, step.ious, num_objects,
              /*loss_on_multimask=*/true, options_.iou_use_l1_loss);
  TORCH_CHECK(loss_multimask.dim() == 2 && loss_multidice.dim() == 2 &&
              loss_multiiou.dim() == 2);

  at::Tensor loss_mask = loss_multimask;
  at::Tensor loss_dice = loss_multidice;
  at::Tensor loss_iou = loss_multiiou;
  if (loss_multimask.size(1) > 1) {
    // Back-propagate focal and dice only through the output mask with the
    // lowest weighted focal + dice loss (SAM's best-of-multimask).
    const at::Tensor loss_combo = loss_multimask * options_.weight_mask +
                                  loss_multidice * options_.weight_dice;
    const at::Tensor best = at::argmin(loss_combo, -1).unsqueeze(1);
    loss_mask = loss_multimask.gather(1, best);
    loss_dice = loss_multidice.gather(1, best);
    loss_iou = options_.supervise_all_iou ? loss_multiiou.mean(-1).unsqueeze(1)
                                          : loss_multiiou.gather(1, best);
  }
  // Mask, dice and IoU losses only count where the object is present.
  Accumulate(losses, kLossMask, (loss_mask * target_obj).sum());
  Accumulate(losses, kLossDice, (loss_dice * target_obj).sum());
  Accumulate(losses, kLossIou, (loss_iou * target_obj).sum());
  Accumulate(losses, kLossClass, loss_class);
}

at::Tensor MultiStepMultiMasksAndIous::ReduceLoss(
    const LossTensors& losses) const {
  // The reference sums in the weight dict's order (mask, dice, iou, class in
  // every config) and skips zero weights.
  const std::pair<const char*, double> weighted[] = {
      {kLossMask, options_.weight_mask},
      {kLossDice, options_.weight_dice},
      {kLossIou, options_.weight_iou},
      {kLossClass, options_.weight_class},
  };
  at::Tensor reduced;
  for (const auto& [key, weight] : weighted) {
    if (weight == 0) continue;
    const at::Tensor term = losses.at(key) * weight;
    reduced = reduced.defined() ? reduced + term : term;
  }
  if (!reduced.defined())
    reduced = at::zeros({}, losses.at(kLossMask).options());
  return reduced;
}

}  // namespace sam2::training
