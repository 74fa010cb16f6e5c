// One-pass CPU kernels for the per-mask sigmoid focal, dice and IoU terms of
// SAM 2's training loss, over float logits and targets at full resolution.
// Op by op these terms take about twenty passes over every [N, M, H, W]
// prediction of every prompting step, each allocating its result; here the
// forward pass reads each pixel once and the backward pass once more.
#ifndef SAM2_TRAINING_MODEL_MASK_LOSS_KERNELS_H_
#define SAM2_TRAINING_MODEL_MASK_LOSS_KERNELS_H_

#include <cstdint>

namespace sam2::training::internal {

// Whether the kernels can take this focal gamma (0, 1, 2 or 3).
bool MaskLossKernelsSupportGamma(double gamma);

// Sums over a run of pixels of one mask.
struct MaskLossSums {
  double focal = 0;          // sum of the focal loss terms
  double prob_target = 0;    // sum of sigmoid(logit) * target
  double prob = 0;           // sum of sigmoid(logit)
  double target = 0;         // sum of target
  int64_t intersection = 0;  // pixels with logit > 0 and target > 0
  int64_t union_area = 0;    // pixels with logit > 0 or target > 0
};

// Accumulates `pixels` logits and targets into `sums`. alpha < 0 turns the
// focal loss's class weighting off, as in the reference.
void AccumulateMaskLossSums(const float* logits, const float* targets,
                            int64_t pixels, float alpha, int gamma,
                            MaskLossSums& sums);

// Per-mask factors of the backward pass: the gradient with respect to each
// logit is focal_scale * d focal_term / d logit +
// (dice_offset - dice_slope * target) * d sigmoid / d logit.
struct MaskLossGradScales {
  float focal_scale = 0;  // d loss / d focal mean, divided by the pixels
  float dice_offset = 0;  // d loss / d dice * (n + 1) / (d + 1)^2
  float dice_slope = 0;   // d loss / d dice * 2 / (d + 1)
};

// Writes the gradient of `pixels` logits.
void MaskLossGradient(const float* logits, const float* targets, int64_t pixels,
                      float alpha, int gamma, const MaskLossGradScales& scales,
                      float* grad);

}  // namespace sam2::training::internal

#endif  // SAM2_TRAINING_MODEL_MASK_LOSS_KERNELS_H_
