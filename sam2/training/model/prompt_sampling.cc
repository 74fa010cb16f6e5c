#include "sam2/training/model/prompt_sampling.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sam2::training {

double Uniform01(PromptRng& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

float Uniform01f(PromptRng& rng) {
  return static_cast<float>(rng() >> 40) * 0x1.0p-24f;
}

int64_t UniformInt(PromptRng& rng, int64_t lo, int64_t hi) {
  TORCH_CHECK(lo <= hi, "UniformInt: empty range [", lo, ", ", hi, "]");
  const uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
  if (range == 0) return static_cast<int64_t>(rng());
  // Rejection sampling: no modulo bias.
  const uint64_t limit = std::numeric_limits<uint64_t>::max() -
                         std::numeric_limits<uint64_t>::max() % range;
  uint64_t r;
  do {
    r = rng();
  } while (r >= limit);
  return lo + static_cast<int64_t>(r % range);
}

std::vector<int64_t> ChooseWithoutReplacement(PromptRng& rng,
                                              std::vector<int64_t> population,
                                              int64_t k) {
  TORCH_CHECK(k >= 0 && k <= static_cast<int64_t>(population.size()),
              "cannot choose ", k, " of ", population.size(),
              " without replacement");
  // Partial Fisher-Yates: the first k slots end up a uniform random sample.
  const int64_t n = static_cast<int64_t>(population.size());
  for (int64_t i = 0; i < k; ++i) {
    std::swap(population[i], population[UniformInt(rng, i, n - 1)]);
  }
  population.resize(static_cast<size_t>(k));
  return population;
}

namespace {

void CheckMasks(const at::Tensor& gt_masks, const at::Tensor& pred_masks) {
  TORCH_CHECK(gt_masks.dim() == 4 && gt_masks.size(1) == 1 &&
                  gt_masks.scalar_type() == at::kBool,
              "gt_masks must be bool [B, 1, H, W], got ", gt_masks.sizes(), " ",
              gt_masks.scalar_type());
  if (pred_masks.defined()) {
    TORCH_CHECK(pred_masks.scalar_type() == at::kBool &&
                    pred_masks.sizes() == gt_masks.sizes(),
                "pred_masks must be bool of gt_masks' shape, got ",
                pred_masks.sizes(), " ", pred_masks.scalar_type());
  }
}

// bool [B, 1, H, W] on the CPU, contiguous; zeros when undefined.
at::Tensor CpuMasks(const at::Tensor& masks, const at::Tensor& like) {
  if (!masks.defined()) return at::zeros(like.sizes(), at::kBool);
  return masks.to(at::kCPU).contiguous();
}

}  // namespace

at::Tensor MaskToBox(const at::Tensor& masks) {
  TORCH_CHECK(masks.dim() == 4 && masks.size(1) == 1,
              "MaskToBox: masks must be [B, 1, H, W], got ", masks.sizes());
  const int64_t b = masks.size(0), h = masks.size(2), w = masks.size(3);
  const at::Tensor cpu = masks.to(at::kCPU).to(at::kBool).contiguous();
  at::Tensor boxes = at::empty({b, 1, 4}, at::kInt);
  const bool* data = cpu.data_ptr<bool>();
  int32_t* out = boxes.data_ptr<int32_t>();
  for (int64_t i = 0; i < b; ++i) {
    int32_t min_x = static_cast<int32_t>(w), min_y = static_cast<int32_t>(h);
    int32_t max_x = -1, max_y = -1;
    const bool* m = data + i * h * w;
    for (int64_t y = 0; y < h; ++y) {
      const bool* row = m + y * w;
      for (int64_t x = 0; x < w; ++x) {
        if (!row[x]) continue;
        min_x = std::min<int32_t>(min_x, x);
        max_x = std::max<int32_t>(max_x, x);
        min_y = std::min<int32_t>(min_y, y);
        max_y = std::max<int32_t>(max_y, y);
      }
    }
    out[4 * i + 0] = min_x;
    out[4 * i + 1] = min_y;
    out[4 * i + 2] = max_x;
    out[4 * i + 3] = max_y;
  }
  return boxes.to(masks.device());
}

PointPrompt SampleBoxPoints(const at::Tensor& masks, PromptRng& rng,
                            double noise, double noise_bound,
                            int top_left_label, int bottom_right_label) {
  TORCH_CHECK(masks.dim() == 4 && masks.size(1) == 1,
              "SampleBoxPoints: masks must be [B, 1, H, W], got ",
              masks.sizes());
  const int64_t b = masks.size(0), h = masks.size(2), w = masks.size(3);
  at::Tensor box_coords = MaskToBox(masks.to(at::kCPU));  // int32 [B, 1, 4]
  const at::Tensor box_labels =
      at::tensor({top_left_label, bottom_right_label}, at::kInt).repeat({b});
  if (noise > 0.0) {
    // Same float32 arithmetic as the reference.
    const at::Tensor bound = at::full({}, noise_bound, at::kFloat);
    const at::Tensor bbox_w =
        box_coords.select(-1, 2) - box_coords.select(-1, 0);
    const at::Tensor bbox_h =
        box_coords.select(-1, 3) - box_coords.select(-1, 1);
    const at::Tensor max_dx = at::minimum(bbox_w * noise, bound);
    const at::Tensor max_dy = at::minimum(bbox_h * noise, bound);
    at::Tensor uniform = at::empty({b, 1, 4}, at::kFloat);
    float* u = uniform.data_ptr<float>();
    for (int64_t i = 0; i < 4 * b; ++i) u[i] = Uniform01f(rng);
    const at::Tensor box_noise =
        (2 * uniform - 1) * at::stack({max_dx, max_dy, max_dx, max_dy}, -1);
    const at::Tensor upper =
        at::tensor({w - 1, h - 1, w - 1, h - 1}, at::kLong).to(at::kFloat);
    box_coords =
        at::clamp(box_coords + box_noise, at::zeros_like(upper), upper);
  } else {
    box_coords = box_coords.to(at::kFloat);
  }
  return {box_coords.reshape({-1, 2, 2}).to(masks.device()),
          box_labels.reshape({-1, 2}).to(masks.device())};
}

PointPrompt SampleRandomPointsFromErrors(const at::Tensor& gt_masks,
                                         const at::Tensor& pred_masks,
                                         PromptRng& rng, int64_t num_pt) {
  CheckMasks(gt_masks, pred_masks);
  TORCH_CHECK(num_pt >= 0, "num_pt must be >= 0");
  const int64_t b = gt_masks.size(0), h = gt_masks.size(2),
                w = gt_masks.size(3);
  const int64_t hw = h * w;
  const at::Tensor gt = CpuMasks(gt_masks, gt_masks);
  const at::Tensor pred = CpuMasks(pred_masks, gt_masks);
  at::Tensor points = at::empty({b, num_pt, 2}, at::kFloat);
  at::Tensor labels = at::empty({b, num_pt}, at::kInt);
  float* pts = points.data_ptr<float>();
  int32_t* lbl = labels.data_ptr<int32_t>();
  const bool* gt_data = gt.data_ptr<bool>();
  const bool* pred_data = pred.data_ptr<bool>();
  for (int64_t i = 0; i < b; ++i) {
    const bool* g = gt_data + i * hw;
    const bool* p = pred_data + i * hw;
    const bool all_correct = std::memcmp(g, p, static_cast<size_t>(hw)) == 0;
    // The reference takes the argmax of uniform noise over the (pixel, label)
    // pairs allowed: negative where false positive (or, if the prediction is
    // all correct, background), positive where false negative. That is a
    // uniform choice among the allowed pairs, which we draw directly.
    auto negative_ok = [&](int64_t k) {
      return (p[k] && !g[k]) || (all_correct && !g[k]);
    };
    auto positive_ok = [&](int64_t k) { return g[k] && !p[k]; };
    int64_t count = 0;
    for (int64_t k = 0; k < hw; ++k) count += negative_ok(k) + positive_ok(k);
    for (int64_t j = 0; j < num_pt; ++j) {
      // With nothing allowed, the reference's argmax over zeros is pair 0:
      // pixel (0, 0), negative.
      int64_t pair = 0;
      if (count > 0) {
        int64_t target = UniformInt(rng, 0, count - 1);
        for (int64_t k = 0; k < hw; ++k) {
          if (negative_ok(k) && target-- == 0) {
            pair = 2 * k;
            break;
          }
          if (positive_ok(k) && target-- == 0) {
            pair = 2 * k + 1;
            break;
          }
        }
      }
      const int64_t pixel = pair / 2;
      pts[2 * (i * num_pt + j) + 0] = static_cast<float>(pixel % w);
      pts[2 * (i * num_pt + j) + 1] = static_cast<float>(pixel / w);
      lbl[i * num_pt + j] = static_cast<int32_t>(pair % 2);
    }
  }
  return {points.to(gt_masks.device()), labels.to(gt_masks.device())};
}

namespace {

// Distance of every pixel of `region` (h x w bytes, 0/1) to the nearest zero
// pixel, by OpenCV's exact Euclidean distance transform; with a zero border of
// one pixel when `padding`. Returns the first (row-major) maximum.
std::pair<float, int64_t> FarthestFromBoundary(
    const std::vector<uint8_t>& region, int h, int w, bool padding) {
  const int pad = padding ? 1 : 0;
  cv::Mat src = cv::Mat::zeros(h + 2 * pad, w + 2 * pad, CV_8U);
  for (int y = 0; y < h; ++y) {
    std::memcpy(src.ptr<uint8_t>(y + pad) + pad, region.data() + y * w,
                static_cast<size_t>(w));
  }
  cv::Mat dist;
  cv::distanceTransform(src, dist, cv::DIST_L2, cv::DIST_MASK_PRECISE);
  float best = -1.0f;
  int64_t best_index = 0;
  for (int y = 0; y < h; ++y) {
    const float* row = dist.ptr<float>(y + pad) + pad;
    for (int x = 0; x < w; ++x) {
      if (row[x] > best) {
        best = row[x];
        best_index = static_cast<int64_t>(y) * w + x;
      }
    }
  }
  return {best, best_index};
}

}  // namespace

PointPrompt SampleOnePointFromErrorCenter(const at::Tensor& gt_masks,
                                          const at::Tensor& pred_masks,
                                          bool padding) {
  CheckMasks(gt_masks, pred_masks);
  const int64_t b = gt_masks.size(0);
  const int h = static_cast<int>(gt_masks.size(2));
  const int w = static_cast<int>(gt_masks.size(3));
  const int64_t hw = static_cast<int64_t>(h) * w;
  const at::Tensor gt = CpuMasks(gt_masks, gt_masks);
  const at::Tensor pred = CpuMasks(pred_masks, gt_masks);
  at::Tensor points = at::zeros({b, 1, 2}, at::kFloat);
  at::Tensor labels = at::ones({b, 1}, at::kInt);
  const bool* gt_data = gt.data_ptr<bool>();
  const bool* pred_data = pred.data_ptr<bool>();
  std::vector<uint8_t> fn(static_cast<size_t>(hw)), fp(static_cast<size_t>(hw));
  for (int64_t i = 0; i < b; ++i) {
    const bool* g = gt_data + i * hw;
    const bool* p = pred_data + i * hw;
    for (int64_t k = 0; k < hw; ++k) {
      fn[k] = g[k] && !p[k];
      fp[k] = p[k] && !g[k];
    }
    const auto [fn_max, fn_index] = FarthestFromBoundary(fn, h, w, padding);
    const auto [fp_max, fp_index] = FarthestFromBoundary(fp, h, w, padding);
    const bool is_positive = fn_max > fp_max;
    const int64_t index = is_positive ? fn_index : fp_index;
    points[i][0][0] = static_cast<float>(index % w);
    points[i][0][1] = static_cast<float>(index / w);
    labels[i][0] = static_cast<int32_t>(is_positive);
  }
  return {points.to(gt_masks.device()), labels.to(gt_masks.device())};
}

PointPrompt GetNextPoint(const at::Tensor& gt_masks,
                         const at::Tensor& pred_masks,
                         PointSamplingMethod method, PromptRng& rng) {
  if (method == PointSamplingMethod::kUniform) {
    return SampleRandomPointsFromErrors(gt_masks, pred_masks, rng);
  }
  return SampleOnePointFromErrorCenter(gt_masks, pred_masks);
}

PointPrompt ConcatPoints(const PointPrompt& old_points,
                         const PointPrompt& new_points) {
  if (!old_points.coords.defined()) return new_points;
  return {at::cat({old_points.coords, new_points.coords}, 1),
          at::cat({old_points.labels, new_points.labels}, 1)};
}

}  // namespace sam2::training
