// Losses of SAM 2 training (reference: training/loss_fns.py): sigmoid focal
// loss, dice loss, IoU-prediction loss and the multi-step multi-mask loss
// MultiStepMultiMasksAndIous that supervises every prompting step of every
// frame.
#ifndef SAM2_TRAINING_MODEL_LOSS_FNS_H_
#define SAM2_TRAINING_MODEL_LOSS_FNS_H_

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace sam2::training {

// Dice loss (1 - soft dice with +1 smoothing) of mask logits `inputs` against
// 0/1 `targets` of the same shape, divided by `num_objects`.
// loss_on_multimask: inputs are [N, M, H, W]; returns [N, M] per mask.
// Otherwise the loss over the flattened trailing dims is summed to a scalar.
at::Tensor DiceLoss(const at::Tensor& inputs, const at::Tensor& targets,
                    double num_objects, bool loss_on_multimask = false);

// RetinaNet's focal loss on logits; alpha < 0 means no class weighting.
// loss_on_multimask: inputs are [N, M, H, W]; returns [N, M] (spatial mean).
// Otherwise returns loss.mean(1).sum() / num_objects.
at::Tensor SigmoidFocalLoss(const at::Tensor& inputs, const at::Tensor& targets,
                            double num_objects, double alpha = 0.25,
                            double gamma = 2.0, bool loss_on_multimask = false);

// L1 or MSE loss between predicted IoUs [N, M] and the actual IoUs of the
// binarised masks `inputs` [N, M, H, W] (logits > 0) with `targets` (> 0).
at::Tensor IouLoss(const at::Tensor& inputs, const at::Tensor& targets,
                   const at::Tensor& pred_ious, double num_objects,
                   bool loss_on_multimask = false, bool use_l1_loss = false);

// Keys of the loss dictionary (the reference's names).
inline constexpr char kLossMask[] = "loss_mask";
inline constexpr char kLossDice[] = "loss_dice";
inline constexpr char kLossIou[] = "loss_iou";
inline constexpr char kLossClass[] = "loss_class";
inline constexpr char kCoreLossKey[] = "core_loss";

struct MultiStepMultiMasksAndIousOptions {
  // weight_dict of the reference. The reference requires mask, dice and iou
  // and defaults class to 0.
  double weight_mask = 1.0;
  double weight_dice = 1.0;
  double weight_iou = 1.0;
  double weight_class = 0.0;
  double focal_alpha = 0.25;
  double focal_gamma = 2.0;
  // Supervise the IoU prediction of every output mask, not only the best one.
  bool supervise_all_iou = false;
  bool iou_use_l1_loss = false;
  // Add the object-score loss (focal loss on the object score logits).
  bool pred_obj_scores = false;
  double focal_gamma_obj_score = 0.0;
  double focal_alpha_obj_score = -1.0;
};

// One prompting step of one frame (one SAM decoder call).
struct StepPrediction {
  at::Tensor multimasks_high_res;  // float [N, M, H, W] mask logits
  at::Tensor ious;                 // float [N, M] predicted IoUs
  at::Tensor object_score_logits;  // float [N, 1]
};

// All steps of one frame (the initial prediction, then each correction).
using FramePrediction = std::vector<StepPrediction>;

// Same type as training::LossDict of the trainer.
using LossTensors = std::map<std::string, at::Tensor>;

class MultiStepMultiMasksAndIous {
 public:
  explicit MultiStepMultiMasksAndIous(
      const MultiStepMultiMasksAndIousOptions& options);

  // The number of objects the losses are normalised by: targets.size(1)
  // (objects per batch are the same on every frame). The reference averages
  // it over ranks (all_reduce / world size) and clamps it to >= 1; a
  // distributed caller passes that average to Compute.
  static double LocalNumObjects(const at::Tensor& targets);

  // Losses of a clip: `frames` [T] predictions, `targets` bool/float
  // [T, N, H, W] ground-truth masks. Returns loss_mask, loss_dice, loss_iou,
  // loss_class (each summed over frames and steps, divided by num_objects)
  // and core_loss (their weighted sum). num_objects <= 0 means
  // max(1, LocalNumObjects(targets)).
  LossTensors Compute(const std::vector<FramePrediction>& frames,
                      const at::Tensor& targets,
                      double num_objects = -1.0) const;

  const MultiStepMultiMasksAndIousOptions& options() const { return options_; }

 private:
  LossTensors FrameLosses(const FramePrediction& steps,
                          const at::Tensor& targets, double num_objects) const;
  void AddStepLosses(const StepPrediction& step, const at::Tensor& target_masks,
                     double num_objects, LossTensors& losses) const;
  at::Tensor ReduceLoss(const LossTensors& losses) const;

  MultiStepMultiMasksAndIousOptions options_;
};

}  // namespace sam2::training

#endif  // SAM2_TRAINING_MODEL_LOSS_FNS_H_
