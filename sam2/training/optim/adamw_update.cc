#include "sam2/training/optim/adamw_update.h"

#include <ATen/Parallel.h>

#include <cmath>

namespace sam2::training::optim {

bool OnePassUpdateApplies(const at::Tensor& param, const at::Tensor& grad,
                          const at::Tensor& exp_avg,
                          const at::Tensor& exp_avg_sq) {
  for (const at::Tensor* t : {&param, &grad, &exp_avg, &exp_avg_sq}) {
    if (!t->is_cpu() || t->scalar_type() != at::kFloat || !t->is_contiguous() ||
        t->numel() != param.numel()) {
      return false;
    }
  }
  return true;
}

namespace {

// The loop the compiler vectorises (BUILD.bazel: -O3 -fno-math-errno): the
// four arrays are distinct tensors.
void UpdateRange(float* __restrict param, const float* __restrict grad,
                 float* __restrict exp_avg, float* __restrict exp_avg_sq,
                 int64_t n, const AdamWFactors f) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i];
    const float m = exp_avg[i] * f.beta1 + f.one_minus_beta1 * g;
    const float v = exp_avg_sq[i] * f.beta2 + f.one_minus_beta2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    const float denom = std::sqrt(v) / f.bias_correction2_sqrt + f.eps;
    param[i] = param[i] * f.decay + f.minus_step_size * m / denom;
  }
}

}  // namespace

void OnePassAdamWUpdate(float* param, const float* grad, float* exp_avg,
                        float* exp_avg_sq, int64_t n,
                        const AdamWFactors& factors) {
  at::parallel_for(0, n, int64_t{1} << 14, [&](int64_t begin, int64_t end) {
    UpdateRange(param + begin, grad + begin, exp_avg + begin,
                exp_avg_sq + begin, end - begin, factors);
  });
}

}  // namespace sam2::training::optim
