#include "sam2/modeling/batched_matmul.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cstdint>
#include <vector>

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

// Element offsets of the matrices of `t` ([..., rows, cols], any strides) in
// row-major order of its leading dimensions.
std::vector<int64_t> MatrixOffsets(const at::Tensor& t) {
  const int64_t dims = t.dim() - 2;
  int64_t count = 1;
  for (int64_t d = 0; d < dims; ++d) count *= t.size(d);
  std::vector<int64_t> offsets(count, 0);
  int64_t repeat = count;
  for (int64_t d = 0; d < dims; ++d) {
    // Dimension d advances every `repeat / size` matrices.
    const int64_t size = t.size(d), stride = t.stride(d);
    repeat /= size;
    for (int64_t i = 0; i < count; ++i) {
      offsets[i] += ((i / repeat) % size) * stride;
    }
  }
  return offsets;
}

// out[i] = a[i] @ b[i] for a [..., m, k], b [..., k, n] with the same
// leading dimensions (any strides: the matrices are addressed where they
// are, so head-split and transposed views need no copy); `out` [..., m, n]
// with unit column stride (its matrices wherever they lie too). Returns
// false where LibTorch would not reach sgemm with these arguments either
// (then the caller uses at::matmul).
bool GemmBatch(const at::Tensor& a_in, const at::Tensor& b_in,
               at::Tensor& out) {
  const int64_t m = a_in.size(-2), k = a_in.size(-1), n = b_in.size(-1);
  // Below this size at::bmm uses a plain loop, not BLAS: keep its numbers.
  if (m * n * k < 400 || k == 0 || m == 0 || n == 0) return false;
  // A [m, 1] result is not seen transposed there: leave it to at::bmm.
  if (n == 1) return false;
  // First gemm operand: b (k x n), then a (m x k); gemm m' = n, n' = m.
  GemmOperand op_b = Layout(b_in.stride(-2), b_in.stride(-1), n, k);
  GemmOperand op_a = Layout(a_in.stride(-2), a_in.stride(-1), k, m);
  const at::Tensor b = op_b.copy ? b_in.contiguous() : b_in;
  const at::Tensor a = op_a.copy ? a_in.contiguous() : a_in;
  // LibTorch's normalize_last_dims for size-1 dimensions.
  int64_t ld_b = op_b.ld, ld_a = op_a.ld;
  if (out.stride(-1) != 1) return false;
  const int64_t ld_c = m == 1 ? n : out.stride(-2);
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
  const std::vector<int64_t> a_offsets = MatrixOffsets(a);
  const std::vector<int64_t> b_offsets = MatrixOffsets(b);
  const std::vector<int64_t> c_offsets = MatrixOffsets(out);
  const int64_t batch = static_cast<int64_t>(a_offsets.size());
  const int gm = n, gn = m, gk = k;
  const int lda = ld_b, ldb = ld_a, ldc = ld_c;
  const char ta = op_b.trans, tb = op_a.trans;
  const float one = 1.0f, zero = 0.0f;
  const auto multiply = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      sgemm(&ta, &tb, &gm, &gn, &gk, &one, b_data + b_offsets[i], &lda,
            a_data + a_offsets[i], &ldb, &zero, c_data + c_offsets[i], &ldc);
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

// The forward product of [..., m, k] and [..., k, n] views.
at::Tensor Bmm(const at::Tensor& a, const at::Tensor& b) {
  std::vector<int64_t> out_shape(a.sizes().begin(), a.sizes().end() - 1);
  out_shape.push_back(b.size(-1));
  at::Tensor out = at::empty(out_shape, a.options());
  if (!GemmBatch(a, b, out)) return at::matmul(a, b);
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
    return Bmm(a, b);
  }
  // As BmmBackward0: grad @ b^T and a^T @ grad.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& grad = grads[0];
    at::Tensor grad_a, grad_b;
    if (ctx->needs_input_grad(0))
      grad_a = Bmm(grad, saved[1].transpose(-2, -1));
    if (ctx->needs_input_grad(1))
      grad_b = Bmm(saved[0].transpose(-2, -1), grad);
    return {grad_a, grad_b};
  }
};

}  // namespace

bool HasBatchedMatmulKernel() { return Sgemm() != nullptr; }

at::Tensor BatchedMatmulNoGrad(const at::Tensor& a, const at::Tensor& b) {
  if (!HasBatchedMatmulKernel()) return at::matmul(a, b);
  return Bmm(a, b);
}

at::Tensor BatchedMatmulNoGradTokensMajor(const at::Tensor& a,
                                          const at::Tensor& b) {
  TORCH_CHECK(a.dim() == 4 && b.dim() == 4,
              "BatchedMatmulNoGradTokensMajor: 4-D operands expected");
  at::Tensor out =
      at::empty({a.size(0), a.size(2), a.size(1), b.size(3)}, a.options())
          .transpose(1, 2);
  if (!HasBatchedMatmulKernel() || !GemmBatch(a, b, out)) {
    out.copy_(at::matmul(a, b));
  }
  return out;
}

at::Tensor BatchedMatmul(const at::Tensor& a, const at::Tensor& b) {
  const bool supported =
      a.dim() >= 3 && a.dim() == b.dim() && a.device().is_cpu() &&
      b.device().is_cpu() && a.scalar_type() == at::kFloat &&
      b.scalar_type() == at::kFloat && !a.is_conj() && !b.is_conj() &&
      a.sizes().slice(0, a.dim() - 2) == b.sizes().slice(0, b.dim() - 2) &&
      a.size(-1) == b.size(-2) && HasBatchedMatmulKernel();
  if (!supported) return at::matmul(a, b);
  return BatchedMatmulFunction::apply(a, b);
}

}  // namespace sam2::modeling
