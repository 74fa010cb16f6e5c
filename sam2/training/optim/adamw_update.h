// torch.optim.AdamW's single-tensor update of one float parameter in one
// pass over the parameter, its gradient and its two moments. Op by op (as
// AdamW::Step does for other tensors) the update is eight passes over memory
// and three temporaries: ~5% of a b+ training step on the CPU.
#ifndef SAM2_TRAINING_OPTIM_ADAMW_UPDATE_H_
#define SAM2_TRAINING_OPTIM_ADAMW_UPDATE_H_

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace sam2::training::optim {

// The update's factors, each rounded to float as LibTorch's ops round their
// double scalars for a float tensor.
struct AdamWFactors {
  float decay;  // param.mul_(1 - lr * weight_decay)
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float bias_correction2_sqrt, eps;
  float minus_step_size;  // param.addcdiv_(exp_avg, denom, -step_size)
};

// Whether the four tensors are contiguous float CPU tensors of one size.
bool OnePassUpdateApplies(const at::Tensor& param, const at::Tensor& grad,
                          const at::Tensor& exp_avg,
                          const at::Tensor& exp_avg_sq);

// For each element, the ops' arithmetic in their order:
//   param *= decay
//   exp_avg = exp_avg * beta1 + one_minus_beta1 * grad
//   exp_avg_sq = exp_avg_sq * beta2 + one_minus_beta2 * grad * grad
//   denom = sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
//   param += minus_step_size * exp_avg / denom
// LibTorch's vectorised kernels fuse the moments' multiply-adds, so a value
// may differ from the op-by-op one in its last bit. Split over LibTorch's
// threads; the result does not depend on their number.
void OnePassAdamWUpdate(float* param, const float* grad, float* exp_avg,
                        float* exp_avg_sq, int64_t n,
                        const AdamWFactors& factors);

}  // namespace sam2::training::optim

#endif  // SAM2_TRAINING_OPTIM_ADAMW_UPDATE_H_
