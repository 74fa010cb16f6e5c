#include "sam2/training/model/mask_loss_kernels.h"

#include <algorithm>
#include <cmath>

namespace sam2::training::internal {
namespace {

// The pixel counts run over blocks this long in int32 vector lanes, then
// into int64; the sums accumulate in double lanes throughout.
constexpr int64_t kBlock = 1 << 16;

#define SAM2_INLINE __attribute__((always_inline)) inline

// exp(z) for z <= 0, to about 2 ulp (Cephes' expf: range reduction by
// ln 2 in two parts, a degree-6 polynomial, the exponent put in by bits).
// n = round(z / ln 2) by the 1.5 * 2^23 trick, which vectorises on every
// x86-64 (floor needs SSE4.1).
// Below -87 it returns exp(-87) (1.6e-38) instead of a denormal: the focal
// and dice terms of such a pixel do not change in float.
SAM2_INLINE float ExpNonPositive(float z) {
  z = z < -87.0f ? -87.0f : z;
  constexpr float kRound = 12582912.0f;
  const float n = (z * 1.44269504088896341f + kRound) - kRound;
  float r = z - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  const float r2 = r * r;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r2 + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return y * __builtin_bit_cast(float, bits);
}

// log(1 + e) for 0 <= e <= 1 as 2 atanh(e / (2 + e)): with s <= 1/3 the
// odd series to s^15 is accurate to 2e-9, and small e lose nothing to 1 + e.
SAM2_INLINE float Log1pUnit(float e) {
  const float s = e / (2.0f + e);
  const float s2 = s * s;
  float y = 1.0f / 15;
  y = y * s2 + 1.0f / 13;
  y = y * s2 + 1.0f / 11;
  y = y * s2 + 1.0f / 9;
  y = y * s2 + 1.0f / 7;
  y = y * s2 + 1.0f / 5;
  y = y * s2 + 1.0f / 3;
  y = y * s2 + 1.0f;
  return 2.0f * s * y;
}

template <int kPower>
SAM2_INLINE float Power(float q) {
  float y = 1.0f;
  for (int i = 0; i < kPower; ++i) y *= q;
  return y;
}

// The per-pixel quantities both passes need. 1 - sigmoid(x) and the
// sigmoid's derivative come from exp(-|x|) directly rather than as 1 - p,
// which keeps their relative precision where p rounds to 1 (x > 8).
struct Pixel {
  float prob;   // sigmoid(x)
  float dprob;  // sigmoid'(x) = p (1 - p)
  float ce;     // binary cross-entropy of the logit x against t
  float q;      // 1 - p_t = p (1 - t) + (1 - p) t
};

SAM2_INLINE Pixel Evaluate(float x, float t) {
  const float e = ExpNonPositive(-std::fabs(x));
  const float inv = 1.0f / (1.0f + e);
  const float small = e * inv;  // sigmoid(-|x|)
  Pixel pixel;
  pixel.prob = x >= 0 ? inv : small;
  const float complement = x >= 0 ? small : inv;
  pixel.dprob = small * inv;
  pixel.ce = std::max(x, 0.0f) - x * t + Log1pUnit(e);
  pixel.q = pixel.prob * (1.0f - t) + complement * t;
  return pixel;
}

template <int kGamma>
SAM2_INLINE void Sums(const float* logits, const float* targets, int64_t pixels,
                      float alpha, MaskLossSums& sums) {
  const bool weighted = alpha >= 0;
  for (int64_t begin = 0; begin < pixels; begin += kBlock) {
    const int64_t end = std::min(pixels, begin + kBlock);
    double focal = 0, prob_target = 0, prob = 0, target = 0;
    int32_t intersection = 0, union_area = 0;
#pragma omp simd reduction(+ : focal, prob_target, prob, target, \
                               intersection, union_area)
    for (int64_t i = begin; i < end; ++i) {
      const float x = logits[i];
      const float t = targets[i];
      const Pixel p = Evaluate(x, t);
      const float alpha_t =
          weighted ? alpha * t + (1.0f - alpha) * (1.0f - t) : 1.0f;
      focal += alpha_t * (p.ce * Power<kGamma>(p.q));
      prob_target += p.prob * t;
      prob += p.prob;
      target += t;
      intersection += (x > 0) & (t > 0);
      union_area += (x > 0) | (t > 0);
    }
    sums.focal += focal;
    sums.prob_target += prob_target;
    sums.prob += prob;
    sums.target += target;
    sums.intersection += intersection;
    sums.union_area += union_area;
  }
}

template <int kGamma>
SAM2_INLINE void Gradient(const float* logits, const float* targets,
                          int64_t pixels, float alpha,
                          const MaskLossGradScales& scales, float* grad) {
  const bool weighted = alpha >= 0;
  const float focal_scale = scales.focal_scale;
  const float dice_offset = scales.dice_offset;
  const float dice_slope = scales.dice_slope;
#pragma omp simd
  for (int64_t i = 0; i < pixels; ++i) {
    const float x = logits[i];
    const float t = targets[i];
    const Pixel p = Evaluate(x, t);
    const float dprob = p.dprob;
    // focal = a_t ce q^gamma: dce = p - t, dq = -(2 t - 1) dprob.
    float dfocal = (p.prob - t) * Power<kGamma>(p.q);
    if (kGamma > 0) {
      dfocal -=
          p.ce * (kGamma * Power<kGamma - 1>(p.q)) * (2.0f * t - 1.0f) * dprob;
    }
    const float alpha_t =
        weighted ? alpha * t + (1.0f - alpha) * (1.0f - t) : 1.0f;
    dfocal *= alpha_t;
    grad[i] = focal_scale * dfocal + (dice_offset - dice_slope * t) * dprob;
  }
}

}  // namespace

bool MaskLossKernelsSupportGamma(double gamma) {
  return gamma == 0 || gamma == 1 || gamma == 2 || gamma == 3;
}

// One clone for AVX2 with FMA (any x86-64 training machine of the last ten
// years), chosen at load time, and one for baseline x86-64.
__attribute__((target_clones("arch=x86-64-v3", "default"))) void
AccumulateMaskLossSums(const float* logits, const float* targets,
                       int64_t pixels, float alpha, int gamma,
                       MaskLossSums& sums) {
  switch (gamma) {
    case 0:
      return Sums<0>(logits, targets, pixels, alpha, sums);
    case 1:
      return Sums<1>(logits, targets, pixels, alpha, sums);
    case 2:
      return Sums<2>(logits, targets, pixels, alpha, sums);
    default:
      return Sums<3>(logits, targets, pixels, alpha, sums);
  }
}

__attribute__((target_clones("arch=x86-64-v3", "default"))) void
MaskLossGradient(const float* logits, const float* targets, int64_t pixels,
                 float alpha, int gamma, const MaskLossGradScales& scales,
                 float* grad) {
  switch (gamma) {
    case 0:
      return Gradient<0>(logits, targets, pixels, alpha, scales, grad);
    case 1:
      return Gradient<1>(logits, targets, pixels, alpha, scales, grad);
    case 2:
      return Gradient<2>(logits, targets, pixels, alpha, scales, grad);
    default:
      return Gradient<3>(logits, targets, pixels, alpha, scales, grad);
  }
}

}  // namespace sam2::training::internal
