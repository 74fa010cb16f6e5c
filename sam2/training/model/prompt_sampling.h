// Prompt simulation helpers of SAM 2 training: boxes and clicks sampled from
// ground-truth masks and from the error between a prediction and the ground
// truth (reference: sam2/modeling/sam2_utils.py sample_box_points,
// sample_random_points_from_errors, sample_one_point_from_error_center,
// get_next_point; sam2/utils/misc.py mask_to_box, concat_points).
//
// Randomness: every draw comes from one PromptRng (std::mt19937_64) passed in
// by the caller, never from LibTorch's global generators, so that a seeded
// SAM2Train repeats its prompts exactly on any device. Differs from the
// reference on purpose: it draws box noise and uniform clicks from torch's
// global generator and its other choices from a numpy generator; its exact
// numbers cannot be reproduced, the distributions are the same.
//
// Masks may live on any device: the sampling runs on the CPU (the center
// method needs OpenCV anyway) and the results come back on the masks' device.
#ifndef SAM2_TRAINING_MODEL_PROMPT_SAMPLING_H_
#define SAM2_TRAINING_MODEL_PROMPT_SAMPLING_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sam2::training {

using PromptRng = std::mt19937_64;

// Uniform double in [0, 1) from 53 random bits (numpy's Generator.random()).
double Uniform01(PromptRng& rng);
// Uniform float in [0, 1) from 24 random bits (torch.rand's float32).
float Uniform01f(PromptRng& rng);
// Uniform integer in [lo, hi], both inclusive, unbiased
// (Generator.integers(lo, hi, endpoint=True)).
int64_t UniformInt(PromptRng& rng, int64_t lo, int64_t hi);
// k distinct elements of `population` in random order
// (Generator.choice(population, k, replace=False)). k <= population.size().
std::vector<int64_t> ChooseWithoutReplacement(PromptRng& rng,
                                              std::vector<int64_t> population,
                                              int64_t k);

// Clicks or box corners for the SAM prompt encoder.
struct PointPrompt {
  at::Tensor coords;  // float [B, P, 2], (x, y) in pixels of the input image
  at::Tensor labels;  // int32 [B, P]: 1 positive, 0 negative, 2/3 box corners
};

// Bounding boxes of masks [B, 1, H, W] (bool): int32 [B, 1, 4]
// (x_min, y_min, x_max, y_max), inclusive. An empty mask gives (W, H, -1, -1)
// like the reference.
at::Tensor MaskToBox(const at::Tensor& masks);

// Box prompt from masks [B, 1, H, W] (bool): the box corners, each moved by
// uniform noise of at most noise * box side (and at most noise_bound pixels),
// clamped to the image; labels top_left_label / bottom_right_label.
// Returns coords [B, 2, 2].
PointPrompt SampleBoxPoints(const at::Tensor& masks, PromptRng& rng,
                            double noise = 0.1, double noise_bound = 20,
                            int top_left_label = 2, int bottom_right_label = 3);

// num_pt clicks per mask, each uniformly random over the error region: a
// false-positive pixel gives a negative click, a false-negative pixel a
// positive one. If the prediction is entirely correct, a negative click on
// the background. gt_masks and pred_masks are bool [B, 1, H, W]; an undefined
// pred_masks counts as empty (clicks sampled from the ground truth).
// Returns coords [B, num_pt, 2], labels [B, num_pt].
PointPrompt SampleRandomPointsFromErrors(const at::Tensor& gt_masks,
                                         const at::Tensor& pred_masks,
                                         PromptRng& rng, int64_t num_pt = 1);

// One click per mask at the centre of the larger error region: the pixel
// farthest from the region's boundary by OpenCV's exact Euclidean distance
// transform (DIST_L2, DIST_MASK_PRECISE), with a 1-pixel zero border when
// `padding` (RITM's clicker). Positive if the false-negative distance is
// strictly larger than the false-positive one. Deterministic.
PointPrompt SampleOnePointFromErrorCenter(const at::Tensor& gt_masks,
                                          const at::Tensor& pred_masks,
                                          bool padding = true);

// (The config's "uniform" / "center": configs/choices.h PointSampling.)
enum class PointSamplingMethod { kUniform, kCenter };

// The next click (one per mask) by `method`.
PointPrompt GetNextPoint(const at::Tensor& gt_masks,
                         const at::Tensor& pred_masks,
                         PointSamplingMethod method, PromptRng& rng);

// `old_points` followed by `new_points` along the point dimension; an
// undefined old_points.coords gives new_points.
PointPrompt ConcatPoints(const PointPrompt& old_points,
                         const PointPrompt& new_points);

}  // namespace sam2::training

#endif  // SAM2_TRAINING_MODEL_PROMPT_SAMPLING_H_
