#include "sam2/modeling/batched_matmul.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cstdint>

namespace sam2::modeling {
namespace {

// Fortran BLAS sgemm, the function LibTorch's CPU gemm ends in. Looked up at
// run time in the libraries already loaded (LibTorch's own libblas.so.3):
// the same function LibTorch calls, and no link-time BLAS dependency (CUDA
// LibTorch builds bring their BLAS statically and keep their own paths).
using SgemmFn = void (*)(const char* transa, const char* transb, const int* m,
                         const int* n, const int* k, const float* alpha,
                         const float* a, const int* lda, const float* b,
                         const int* ldb, const float* beta, float* c,
                         const int* ldc);

SgemmFn Sgemm() {
  static const SgemmFn sgemm =
      reinterpret_cast<SgemmFn>(dlsym(RTLD_DEFAULT, "sgemm_"));
  return sgemm;
}

// One operand of the column-major gemm as LibTorch's addmm_impl_cpu_ lays
// it out for a row-major result (the result is seen transposed, so the
// operands swap: C^T = B^T A^T). `rows` x `cols` is the operand's shape in
// the row-major product; `need_ld` the leading dimension BLAS requires.
struct GemmOperand {
  char trans = 'n';
  int64_t ld = 0;
  bool copy = false;  // neither layout fits: multiply a contiguous copy
};

GemmOperand Layout(int64_t row_stride, int64_t col_stride, int64_t cols,
                   int64_t rows) {
  GemmOperand op;
  if (col_stride == 1 && row_stride >= std::max<int64_t>(1, cols)) {
    op.ld = row_stride;
  } else if (row_stride == 1 && col_stride >= std::max<int64_t>(1, rows)) {
    op.trans = 't';
    op.ld = col_stride;
  } else {
    op.copy = true;
    op.ld = cols;
  }
  return op;
}

bool Fits(int64_t v) { return v <= INT32_MAX; }

// out[i] = a[i] @ b[i] for a [B, m, k], b [B, k, n] (any strides); `out`
// contiguous [B, m, n]. Returns false where LibTorch would not reach sgemm
// with these arguments either (then the caller uses at::bmm).
bool GemmBatch(const at::Tensor& a_in, const at::Tensor& b_in,
               at::Tensor& out) {
  const int64_t batch = a_in.size(0), m = a_in.size(1), k = a_in.size(2),
                n = b_in.size(2);
  // Below this size at::bmm uses a plain loop, not BLAS: keep its numbers.
  if (m * n * k < 400 || k == 0 || m == 0 || n == 0) return false;
  // A [m, 1] result is not seen transposed there: leave it to at::bmm.
  if (n == 1) return false;
  // First gemm operand: b (k x n), then a (m x k); gemm m' = n, n' = m.
  GemmOperand op_b = Layout(b_in.stride(1), b_in.stride(2), n, k);
  GemmOperand op_a = Layout(a_in.stride(1), a_in.stride(2), k, m);
  const at::Tensor b = op_b.copy ? b_in.contiguous() : b_in;
  const at::Tensor a = op_a.copy ? a_in.contiguous() : a_in;
  // LibTorch's normalize_last_dims for size-1 dimensions.
  int64_t ld_b = op_b.ld, ld_a = op_a.ld;
  const int64_t ld_c = n;
  if (op_b.trans != 'n') {
    if (n == 1) ld_b = k;
  } else if (k == 1) {
    ld_b = n;
  }
  if (op_a.trans != 'n') {
    if (k == 1) ld_a = m;
  } else if (m == 1) {
    ld_a = k;
  }
  if (!Fits(m) || !Fits(n) || !Fits(k) || !Fits(ld_a) || !Fits(ld_b) ||
      !Fits(ld_c) || ld_b < std::max<int64_t>(1, op_b.trans == 'n' ? n : k) ||
      ld_a < std::max<int64_t>(1, op_a.trans == 'n' ? k : m) ||
      ld_c < std::max<int64_t>(1, n)) {
    return false;
  }
  const SgemmFn sgemm = Sgemm();
  const float* a_data = a.data_ptr<float>();
  const float* b_data = b.data_ptr<float>();
  float* c_data = out.data_ptr<float>();
  const int64_t a_step = a.stride(0), b_step = b.stride(0), c_step = m * n;
  const int gm = n, gn = m, gk = k;
  const int lda = ld_b, ldb = ld_a, ldc = ld_c;
  const char ta = op_b.trans, tb = op_a.trans;
  const float one = 1.0f, zero = 0.0f;
  const auto multiply = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      sgemm(&ta, &tb, &gm, &gn, &gk, &one, b_data + i * b_step, &lda,
            a_data + i * a_step, &ldb, &zero, c_data + i * c_step, &ldc);
    }
  };
  // Large products: one at a time, each on BLAS's threads. Small ones: the
  // batch split over LibTorch's threads (BLAS runs each on one thread; its
  // threads split rows and columns, never the sum, so the numbers are the
  // same either way).
  if (m * n * k >= 64 * 64 * 64 || batch == 1) {
    multiply(0, batch);
  } else {
    const int64_t grain =
        std::max<int64_t>(1, at::internal::GRAIN_SIZE / (m * n * k));
    at::parallel_for(0, batch, grain, multiply);
  }
  return true;
}

// The forward product of [B, m, k] and [B, k, n] views.
at::Tensor Bmm3(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor out = at::empty({a.size(0), a.size(1), b.size(2)}, a.options());
  if (!GemmBatch(a, b, out)) return at::bmm(a, b);
  return out;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class BatchedMatmulFunction
    : public torch::autograd::Function<BatchedMatmulFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& a,
                            const at::Tensor& b) {
    ctx->save_for_backward({a, b});
    return Bmm3(a, b);
  }
  // As BmmBackward0: grad @ b^T and a^T @ grad.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& grad = grads[0];
    at::Tensor grad_a, grad_b;
    if (ctx->needs_input_grad(0)) grad_a = Bmm3(grad, saved[1].transpose(1, 2));
    if (ctx->needs_input_grad(1)) grad_b = Bmm3(saved[0].transpose(1, 2), grad);
    return {grad_a, grad_b};
  }
};

}  // namespace

bool HasBatchedMatmulKernel() { return Sgemm() != nullptr; }

at::Tensor BatchedMatmul3d(const at::Tensor& a, const at::Tensor& b) {
  if (!HasBatchedMatmulKernel()) return at::bmm(a, b);
  return Bmm3(a, b);
}

at::Tensor BatchedMatmul(const at::Tensor& a, const at::Tensor& b) {
  const bool supported =
      a.dim() >= 3 && a.dim() == b.dim() && a.device().is_cpu() &&
      b.device().is_cpu() && a.scalar_type() == at::kFloat &&
      b.scalar_type() == at::kFloat && !a.is_conj() && !b.is_conj() &&
      a.sizes().slice(0, a.dim() - 2) == b.sizes().slice(0, b.dim() - 2) &&
      a.size(-1) == b.size(-2) && HasBatchedMatmulKernel();
  if (!supported) return at::matmul(a, b);
  std::vector<int64_t> out_shape(a.sizes().begin(), a.sizes().end() - 1);
  out_shape.push_back(b.size(-1));
  const at::Tensor a3 = a.reshape({-1, a.size(-2), a.size(-1)});
  const at::Tensor b3 = b.reshape({-1, b.size(-2), b.size(-1)});
  return BatchedMatmulFunction::apply(a3, b3).view(out_shape);
}

}  // namespace sam2::modeling
