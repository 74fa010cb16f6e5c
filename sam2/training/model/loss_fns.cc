#include "sam2/training/model/loss_fns.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "sam2/training/model/mask_loss_kernels.h"

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

namespace {

// The IoU loss of predicted IoUs [N, M] against the IoUs of the binarised
// masks, given as their intersection and union areas [N, M].
at::Tensor IouLossFromAreas(const at::Tensor& area_i, const at::Tensor& area_u,
                            const at::Tensor& pred_ious, double num_objects,
                            bool loss_on_multimask, bool use_l1_loss) {
  const at::Tensor actual_ious =
      area_i.to(at::kFloat) / at::clamp_min(area_u.to(at::kFloat), 1.0);
  const at::Tensor loss =
      use_l1_loss ? at::l1_loss(pred_ious, actual_ious, at::Reduction::None)
                  : at::mse_loss(pred_ious, actual_ious, at::Reduction::None);
  if (loss_on_multimask) return loss / num_objects;
  return loss.sum() / num_objects;
}

}  // namespace

at::Tensor IouLoss(const at::Tensor& inputs, const at::Tensor& targets,
                   const at::Tensor& pred_ious, double num_objects,
                   bool loss_on_multimask, bool use_l1_loss) {
  TORCH_CHECK(inputs.dim() == 4 && targets.dim() == 4,
              "IouLoss: inputs and targets must be [N, M, H, W]");
  const at::Tensor pred_mask = inputs.flatten(2) > 0;
  const at::Tensor gt_mask = targets.flatten(2) > 0;
  const at::Tensor area_i = (pred_mask & gt_mask).sum(-1);
  const at::Tensor area_u = (pred_mask | gt_mask).sum(-1);
  return IouLossFromAreas(area_i, area_u, pred_ious, num_objects,
                          loss_on_multimask, use_l1_loss);
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Whether the one-pass kernels take these tensors: float on the CPU, the
// logits contiguous and each target plane contiguous (the targets of one
// object are usually expanded over its masks).
bool UseMaskLossKernels(const at::Tensor& logits, const at::Tensor& targets,
                        double gamma) {
  return logits.device().is_cpu() && logits.scalar_type() == at::kFloat &&
         targets.device().is_cpu() && targets.scalar_type() == at::kFloat &&
         logits.dim() == 4 && targets.sizes() == logits.sizes() &&
         logits.is_contiguous() && targets.stride(3) == 1 &&
         targets.stride(2) == targets.size(3) &&
         internal::MaskLossKernelsSupportGamma(gamma);
}

// The kernels split each mask into runs of this many pixels, so that a
// step's few masks spread over all threads. The runs' sums are added in a
// fixed order: the result does not depend on the thread count.
constexpr int64_t kPixelsPerTask = int64_t{1} << 14;

struct MaskPlanes {
  int64_t masks_per_object, pixels, tasks_per_plane, planes;
  const float* logits;
  const at::Tensor& targets;

  MaskPlanes(const at::Tensor& logits_in, const at::Tensor& targets_in)
      : masks_per_object(logits_in.size(1)),
        pixels(logits_in.size(2) * logits_in.size(3)),
        tasks_per_plane(std::max<int64_t>(
            1, (pixels + kPixelsPerTask - 1) / kPixelsPerTask)),
        planes(logits_in.size(0) * logits_in.size(1)),
        logits(logits_in.data_ptr<float>()),
        targets(targets_in) {}

  const float* target_plane(int64_t plane) const {
    return targets.data_ptr<float>() +
           (plane / masks_per_object) * targets.stride(0) +
           (plane % masks_per_object) * targets.stride(1);
  }
  int64_t begin(int64_t task) const {
    return (task % tasks_per_plane) * kPixelsPerTask;
  }
  int64_t length(int64_t task) const {
    return std::min(kPixelsPerTask, pixels - begin(task));
  }
};

// The focal and dice losses [N, M] and the areas of the intersection and
// union of each binarised mask with its target [N, M] (the IoU loss's).
struct MaskLossValues {
  at::Tensor focal, dice, numerator, denominator, intersection, union_area;
};

MaskLossValues MaskLossesByKernel(const at::Tensor& logits,
                                  const at::Tensor& targets, double alpha,
                                  int gamma) {
  const MaskPlanes planes(logits, targets);
  std::vector<internal::MaskLossSums> partial(planes.planes *
                                              planes.tasks_per_plane);
  at::parallel_for(0, static_cast<int64_t>(partial.size()), 1,
                   [&](int64_t first, int64_t last) {
                     for (int64_t task = first; task < last; ++task) {
                       const int64_t plane = task / planes.tasks_per_plane;
                       const int64_t begin = planes.begin(task);
                       internal::AccumulateMaskLossSums(
                           planes.logits + plane * planes.pixels + begin,
                           planes.target_plane(plane) + begin,
                           planes.length(task), static_cast<float>(alpha),
                           gamma, partial[task]);
                     }
                   });
  const auto float_options = logits.options();
  MaskLossValues values;
  values.focal = at::empty({planes.planes}, float_options);
  values.dice = at::empty({planes.planes}, float_options);
  values.numerator = at::empty({planes.planes}, float_options);
  values.denominator = at::empty({planes.planes}, float_options);
  values.intersection = at::empty({planes.planes}, float_options);
  values.union_area = at::empty({planes.planes}, float_options);
  for (int64_t plane = 0; plane < planes.planes; ++plane) {
    internal::MaskLossSums sums;
    for (int64_t t = 0; t < planes.tasks_per_plane; ++t) {
      const internal::MaskLossSums& run =
          partial[plane * planes.tasks_per_plane + t];
      sums.focal += run.focal;
      sums.prob_target += run.prob_target;
      sums.prob += run.prob;
      sums.target += run.target;
      sums.intersection += run.intersection;
      sums.union_area += run.union_area;
    }
    const double numerator = 2 * sums.prob_target;
    const double denominator = sums.prob + sums.target;
    values.focal.data_ptr<float>()[plane] = sums.focal / planes.pixels;
    values.dice.data_ptr<float>()[plane] =
        1 - (numerator + 1) / (denominator + 1);
    values.numerator.data_ptr<float>()[plane] = numerator;
    values.denominator.data_ptr<float>()[plane] = denominator;
    values.intersection.data_ptr<float>()[plane] = sums.intersection;
    values.union_area.data_ptr<float>()[plane] = sums.union_area;
  }
  const at::IntArrayRef per_mask = logits.sizes().slice(0, 2);
  for (at::Tensor* t :
       {&values.focal, &values.dice, &values.numerator, &values.denominator,
        &values.intersection, &values.union_area}) {
    *t = t->view(per_mask);
  }
  return values;
}

// The same values op by op, as SigmoidFocalLoss, DiceLoss and IouLoss compute
// them (the same ATen ops in the same order, so bitwise equal).
MaskLossValues MaskLossesByOps(const at::Tensor& logits,
                               const at::Tensor& targets, double alpha,
                               double gamma) {
  MaskLossValues values;
  const at::Tensor prob = logits.sigmoid();
  const at::Tensor ce = at::binary_cross_entropy_with_logits(
      logits, targets, /*weight=*/{}, /*pos_weight=*/{}, at::Reduction::None);
  const at::Tensor p_t = prob * targets + (1 - prob) * (1 - targets);
  at::Tensor focal = ce * at::pow(1 - p_t, gamma);
  if (alpha >= 0) {
    focal = (alpha * targets + (1 - alpha) * (1 - targets)) * focal;
  }
  values.focal = focal.flatten(2).mean(-1);
  const at::Tensor probs = prob.flatten(2);
  const at::Tensor flat_targets = targets.flatten(2);
  values.numerator = 2 * (probs * flat_targets).sum(-1);
  values.denominator = probs.sum(-1) + flat_targets.sum(-1);
  values.dice = 1 - (values.numerator + 1) / (values.denominator + 1);
  const at::Tensor pred_mask = logits.flatten(2) > 0;
  const at::Tensor gt_mask = flat_targets > 0;
  values.intersection = (pred_mask & gt_mask).sum(-1).to(logits.scalar_type());
  values.union_area = (pred_mask | gt_mask).sum(-1).to(logits.scalar_type());
  return values;
}

// The gradient of the focal and dice losses with respect to the logits, by
// the kernels: masks that get no gradient (all but the best of each
// object's) are only zero-filled.
at::Tensor MaskLossGradientByKernel(const at::Tensor& logits,
                                    const at::Tensor& targets,
                                    const at::Tensor& numerator,
                                    const at::Tensor& denominator,
                                    const at::Tensor& grad_focal,
                                    const at::Tensor& grad_dice, double alpha,
                                    int gamma) {
  const MaskPlanes planes(logits, targets);
  std::vector<internal::MaskLossGradScales> scales(planes.planes);
  const at::Tensor focal_grads =
      grad_focal.defined() ? grad_focal.to(at::kDouble).contiguous()
                           : at::zeros(logits.sizes().slice(0, 2),
                                       logits.options().dtype(at::kDouble));
  const at::Tensor dice_grads = grad_dice.defined()
                                    ? grad_dice.to(at::kDouble).contiguous()
                                    : at::zeros_like(focal_grads);
  const at::Tensor n = numerator.to(at::kDouble).contiguous();
  const at::Tensor d = denominator.to(at::kDouble).contiguous();
  for (int64_t plane = 0; plane < planes.planes; ++plane) {
    const double g_focal = focal_grads.data_ptr<double>()[plane];
    const double g_dice = dice_grads.data_ptr<double>()[plane];
    const double n1 = n.data_ptr<double>()[plane] + 1;
    const double d1 = d.data_ptr<double>()[plane] + 1;
    scales[plane].focal_scale = g_focal / planes.pixels;
    scales[plane].dice_offset = g_dice * n1 / (d1 * d1);
    scales[plane].dice_slope = g_dice * 2 / d1;
  }
  at::Tensor grad = at::empty_like(logits);
  float* out = grad.data_ptr<float>();
  at::parallel_for(
      0, planes.planes * planes.tasks_per_plane, 1,
      [&](int64_t first, int64_t last) {
        for (int64_t task = first; task < last; ++task) {
          const int64_t plane = task / planes.tasks_per_plane;
          const int64_t offset = plane * planes.pixels + planes.begin(task);
          const internal::MaskLossGradScales& s = scales[plane];
          if (s.focal_scale == 0 && s.dice_offset == 0 && s.dice_slope == 0) {
            std::fill_n(out + offset, planes.length(task), 0.0f);
            continue;
          }
          internal::MaskLossGradient(
              planes.logits + offset,
              planes.target_plane(plane) + planes.begin(task),
              planes.length(task), static_cast<float>(alpha), gamma, s,
              out + offset);
        }
      });
  return grad;
}

// The gradient op by op, for the tensors the kernels do not take.
at::Tensor MaskLossGradientByOps(const at::Tensor& logits,
                                 const at::Tensor& targets,
                                 const at::Tensor& numerator,
                                 const at::Tensor& denominator,
                                 const at::Tensor& grad_focal,
                                 const at::Tensor& grad_dice, double alpha,
                                 double gamma) {
  const auto per_mask = [](const at::Tensor& t) {
    return t.unsqueeze(-1).unsqueeze(-1);
  };
  const at::Tensor prob = logits.sigmoid();
  const at::Tensor dprob = prob * (1 - prob);  // d sigmoid / d logit
  at::Tensor grad = at::zeros_like(logits);
  if (grad_focal.defined()) {
    // focal = a_t ce q^gamma, q = 1 - p_t; dce = p - t,
    // dq = -(2 t - 1) sigmoid'.
    const at::Tensor q = 1 - (prob * targets + (1 - prob) * (1 - targets));
    at::Tensor delement = (prob - targets) * at::pow(q, gamma);
    if (gamma != 0) {
      const at::Tensor ce = at::binary_cross_entropy_with_logits(
          logits, targets, /*weight=*/{}, /*pos_weight=*/{},
          at::Reduction::None);
      delement -=
          ce * (gamma * at::pow(q, gamma - 1)) * (2 * targets - 1) * dprob;
    }
    if (alpha >= 0) {
      delement *= alpha * targets + (1 - alpha) * (1 - targets);
    }
    const double pixels = static_cast<double>(logits.size(2) * logits.size(3));
    grad += per_mask(grad_focal / pixels) * delement;
  }
  if (grad_dice.defined()) {
    // dice = 1 - (n + 1) / (d + 1), n = 2 sum p t, d = sum p + sum t.
    const at::Tensor n1 = per_mask(numerator + 1);
    const at::Tensor d1 = per_mask(denominator + 1);
    const at::Tensor ddice = (n1 - 2 * targets * d1) / (d1 * d1);
    grad += per_mask(grad_dice) * ddice * dprob;
  }
  return grad;
}

// The focal and dice losses of every output mask, [N, M] each (before the
// division by num_objects), as one autograd node, and the IoU loss's areas
// (no gradient). Recorded op by op, the two losses keep about ten
// [N, M, H, W] intermediates of every prompting step alive until the
// backward pass (most of a small model's activation memory at 256 px and
// more); this node keeps only the logits and the targets, which the step
// holds anyway. On the CPU in float it makes one pass over the pixels
// forward and one backward (mask_loss_kernels.h); elsewhere it runs the
// ops of SigmoidFocalLoss, DiceLoss and IouLoss, and the closed form of
// their gradient.
class MultimaskFocalDice
    : public torch::autograd::Function<MultimaskFocalDice> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& logits,
                               const at::Tensor& targets, double alpha,
                               double gamma) {
    const bool by_kernel = UseMaskLossKernels(logits, targets, gamma);
    const MaskLossValues v =
        by_kernel ? MaskLossesByKernel(logits, targets, alpha,
                                       static_cast<int>(gamma))
                  : MaskLossesByOps(logits, targets, alpha, gamma);
    ctx->save_for_backward({logits, targets, v.numerator, v.denominator});
    ctx->saved_data["alpha"] = alpha;
    ctx->saved_data["gamma"] = gamma;
    ctx->saved_data["by_kernel"] = by_kernel;
    ctx->mark_non_differentiable({v.intersection, v.union_area});
    return {v.focal, v.dice, v.intersection, v.union_area};
  }

  static variable_list backward(AutogradContext* ctx,
                                variable_list grad_outputs) {
    const variable_list saved = ctx->get_saved_variables();
    const double alpha = ctx->saved_data["alpha"].toDouble();
    const double gamma = ctx->saved_data["gamma"].toDouble();
    const at::Tensor grad =
        ctx->saved_data["by_kernel"].toBool()
            ? MaskLossGradientByKernel(saved[0], saved[1], saved[2], saved[3],
                                       grad_outputs[0], grad_outputs[1], alpha,
                                       static_cast<int>(gamma))
            : MaskLossGradientByOps(saved[0], saved[1], saved[2], saved[3],
                                    grad_outputs[0], grad_outputs[1], alpha,
                                    gamma);
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
  RECORD_USER_SCOPE("sam2::loss");
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
      IouLossFromAreas(focal_dice[2], focal_dice[3], step.ious, num_objects,
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
