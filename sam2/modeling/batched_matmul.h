// A batched matrix product for the attention of LibTorch 1.x CPU builds.
//
// Without MKL (Debian's LibTorch uses OpenBLAS), at::bmm multiplies a batch
// of float matrices one at a time through the dispatcher: every batch item
// costs three select()s, an addmm and its layout checks before the BLAS
// call, and the calls run one after another. Attention multiplies many small
// matrices (windows x heads of Hiera, objects x heads of the mask decoder),
// so in a parity-small training step this bookkeeping outweighs the
// arithmetic. BatchedMatmul makes the same BLAS calls with the same
// arguments, so its results are bitwise those of at::matmul, but without
// the per-item dispatch and spread over LibTorch's threads (each product
// single-threaded). Forward and backward both go through it. It reads each
// matrix where it lies, so operands whose leading dimensions cannot be
// merged (attention heads split off the channels, [B, L, h, E] seen as
// [B, h, L, E]) are not copied first as at::matmul's reshape copies them.
#ifndef SAM2_MODELING_BATCHED_MATMUL_H_
#define SAM2_MODELING_BATCHED_MATMUL_H_

#include <ATen/core/Tensor.h>

namespace sam2::modeling {

// a [..., m, k] @ b [..., k, n] with the same leading dims -> [..., m, n],
// differentiable. Falls back to at::matmul for anything else (other shapes,
// dtypes or devices, or when the BLAS's sgemm_ cannot be found).
at::Tensor BatchedMatmul(const at::Tensor& a, const at::Tensor& b);

// The product of [..., m, k] and [..., k, n] float CPU tensors with the same
// leading dimensions (any strides) without autograd, with BatchedMatmul's
// numbers (for nodes that compute their own backward pass).
at::Tensor BatchedMatmulNoGrad(const at::Tensor& a, const at::Tensor& b);

// BatchedMatmulNoGrad of [B, h, m, k] and [B, h, k, n] whose result lies in
// memory as [B, m, h, n] (returned as its [B, h, m, n] view): attention's
// output in the layout its heads are recombined from, so that
// out.transpose(1, 2).reshape({B, m, h * n}) is a view, not a copy. The
// same numbers (only where the products are written differs).
at::Tensor BatchedMatmulNoGradTokensMajor(const at::Tensor& a,
                                          const at::Tensor& b);

// Whether BatchedMatmul has its own path here (a CPU BLAS was found).
bool HasBatchedMatmulKernel();

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_BATCHED_MATMUL_H_
