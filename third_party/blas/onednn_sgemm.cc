#include "third_party/blas/onednn_sgemm.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace sam2::blas {
namespace {

// Fortran BLAS (LP64, as Debian's libblas.so.3): column-major.
using BlasSgemm = void (*)(const char* transa, const char* transb, const int* m,
                           const int* n, const int* k, const float* alpha,
                           const float* a, const int* lda, const float* b,
                           const int* ldb, const float* beta, float* c,
                           const int* ldc);

// oneDNN's C API (dnnl.h, not installed with the runtime package):
// row-major, int64 sizes, returns dnnl_status_t (0 = success).
using DnnlSgemm = int (*)(char transa, char transb, int64_t m, int64_t n,
                          int64_t k, float alpha, const float* a, int64_t lda,
                          const float* b, int64_t ldb, float beta, float* c,
                          int64_t ldc);

struct Backends {
  BlasSgemm blas = nullptr;
  DnnlSgemm onednn = nullptr;
  std::string onednn_library;
  std::string choice_note;  // why the route is what it is
  std::atomic<SgemmRoute> route{SgemmRoute::kBlas};
};

Backends& Resolve() {
  static Backends* backends = [] {
    auto* b = new Backends;
    // The next `sgemm_` after this one in the lookup order: libblas.so.3.
    b->blas = reinterpret_cast<BlasSgemm>(dlsym(RTLD_NEXT, "sgemm_"));
    if (b->blas == nullptr) {
      // Preloaded into a process that opened LibTorch with RTLD_LOCAL
      // (Python): its libblas.so.3 is loaded but not in the global scope.
      void* handle = dlopen("libblas.so.3", RTLD_NOW | RTLD_NOLOAD);
      if (handle != nullptr) {
        b->blas = reinterpret_cast<BlasSgemm>(dlsym(handle, "sgemm_"));
      }
    }
    for (const char* library : {"libdnnl.so.2", "libdnnl.so.3"}) {
      // RTLD_NOLOAD first: LibTorch has normally loaded it already.
      void* handle = dlopen(library, RTLD_NOW | RTLD_NOLOAD);
      if (handle == nullptr) handle = dlopen(library, RTLD_NOW);
      if (handle == nullptr) continue;
      b->onednn = reinterpret_cast<DnnlSgemm>(dlsym(handle, "dnnl_sgemm"));
      if (b->onednn != nullptr) {
        b->onednn_library = library;
        break;
      }
    }
    const char* env = std::getenv("SAM2_CPU_SGEMM");
    const std::string wanted = env == nullptr ? "onednn" : env;
    if (wanted == "blas") {
      b->choice_note = "SAM2_CPU_SGEMM=blas";
    } else {
      if (wanted != "onednn") {
        b->choice_note = "SAM2_CPU_SGEMM=\"" + wanted +
                         "\" is neither onednn nor blas; using the default";
      }
      if (b->onednn != nullptr) {
        b->route = SgemmRoute::kOneDnn;
      } else if (b->choice_note.empty()) {
        b->choice_note = "no libdnnl with dnnl_sgemm could be loaded";
      }
    }
    if (b->blas == nullptr && b->onednn == nullptr) {
      std::fprintf(stderr,
                   "fatal: sgemm_ called but neither a BLAS sgemm_ nor "
                   "oneDNN's dnnl_sgemm is loaded\n");
      std::abort();
    }
    if (b->blas == nullptr) b->route = SgemmRoute::kOneDnn;
    return b;
  }();
  return *backends;
}

std::atomic<int64_t> calls_on_onednn{0};
std::atomic<int64_t> calls_on_blas{0};

bool Transposed(char trans) { return trans == 'T' || trans == 't'; }

// oneDNN 3.x on AVX-512 takes 4-5x the time of the row-major-B product when
// B is transposed, A has a few dozen rows and the inner dimension is long:
// a linear layer's [24, 2048] x [2048, 64]^T (the mask decoder's MLP on its
// tokens) takes 0.2 ms instead of 0.04. Measured on Zen 4 at 2 threads, the
// detour below wins for 12-48 rows, k >= 1024 and n >= 32, and loses outside.
bool SkinnyTransposedB(char tb, int64_t m, int64_t n, int64_t k) {
  return Transposed(tb) && m >= 12 && m <= 48 && k >= 1024 && n >= 32;
}

// Row-major C = op(A) B^T as C^T = B op(A)^T, a product of two row-major
// operands (op(A)^T is A itself when A is transposed, else a copy of A with
// its few rows made columns), into scratch, then transposed into C.
int SkinnyProduct(const Backends& b, char ta, int64_t m, int64_t n, int64_t k,
                  float alpha, const float* a, int64_t lda, const float* bm,
                  int64_t ldb, float beta, float* c, int64_t ldc) {
  thread_local std::vector<float> a_columns, c_transposed;
  const float* a_t = a;
  int64_t ld_a_t = lda;
  if (!Transposed(ta)) {
    a_columns.resize(static_cast<size_t>(k * m));
    for (int64_t k0 = 0; k0 < k; k0 += 64) {
      const int64_t k1 = std::min(k, k0 + 64);
      for (int64_t i = 0; i < m; ++i) {
        const float* row = a + i * lda;
        for (int64_t p = k0; p < k1; ++p) a_columns[p * m + i] = row[p];
      }
    }
    a_t = a_columns.data();
    ld_a_t = m;
  }
  c_transposed.resize(static_cast<size_t>(n * m));
  const int status = b.onednn('N', 'N', n, m, k, alpha, bm, ldb, a_t, ld_a_t,
                              0.0f, c_transposed.data(), m);
  if (status != 0) return status;
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    // BLAS semantics: with beta 0, C is not read (it may hold NaNs).
    if (beta == 0) {
      for (int64_t j = 0; j < n; ++j) row[j] = c_transposed[j * m + i];
    } else {
      for (int64_t j = 0; j < n; ++j) {
        row[j] = c_transposed[j * m + i] + beta * row[j];
      }
    }
  }
  return 0;
}

// Column-major C = op(A) op(B) is row-major C^T = op(B)^T op(A)^T, and a
// column-major operand read row-major is its transpose: so oneDNN gets the
// operands swapped with their own transpose flags and m, n swapped.
bool RunOnOneDnn(const Backends& b, char transa, char transb, int m, int n,
                 int k, float alpha, const float* a, int lda, const float* bm,
                 int ldb, float beta, float* c, int ldc) {
  // Degenerate products keep the BLAS's exact semantics.
  if (m <= 0 || n <= 0 || k <= 0) return false;
  // Row-major: rows n, columns m, A = bm (transb), B = a (transa).
  if (SkinnyTransposedB(transa, n, m, k)) {
    return SkinnyProduct(b, transb, n, m, k, alpha, bm, ldb, a, lda, beta, c,
                         ldc) == 0;
  }
  return b.onednn(transb, transa, n, m, k, alpha, bm, ldb, a, lda, beta, c,
                  ldc) == 0;
}

}  // namespace

SgemmRoute ActiveSgemmRoute() { return Resolve().route.load(); }

std::string DescribeSgemmRoute() {
  const Backends& b = Resolve();
  std::string line = b.route.load() == SgemmRoute::kOneDnn
                         ? "oneDNN dnnl_sgemm (" + b.onednn_library + ")"
                         : "BLAS sgemm_";
  if (!b.choice_note.empty()) line += " [" + b.choice_note + "]";
  return line;
}

int64_t SgemmCallsOnOneDnn() { return calls_on_onednn.load(); }
int64_t SgemmCallsOnBlas() { return calls_on_blas.load(); }

void SetSgemmRouteForTesting(SgemmRoute route) {
  Backends& b = Resolve();
  if (route == SgemmRoute::kOneDnn && b.onednn == nullptr) return;
  if (route == SgemmRoute::kBlas && b.blas == nullptr) return;
  b.route = route;
}

}  // namespace sam2::blas

// Exported from the binary (see BUILD.bazel) so that LibTorch's calls bind
// here before libblas.so.3.
extern "C" __attribute__((visibility("default"))) void sgemm_(
    const char* transa, const char* transb, const int* m, const int* n,
    const int* k, const float* alpha, const float* a, const int* lda,
    const float* b, const int* ldb, const float* beta, float* c,
    const int* ldc) {
  using namespace sam2::blas;
  const Backends& backends = Resolve();
  if (backends.route.load(std::memory_order_relaxed) == SgemmRoute::kOneDnn &&
      RunOnOneDnn(backends, *transa, *transb, *m, *n, *k, *alpha, a, *lda, b,
                  *ldb, *beta, c, *ldc)) {
    calls_on_onednn.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (backends.blas == nullptr) {
    std::fprintf(stderr,
                 "fatal: oneDNN refused sgemm(%c, %c, m=%d, n=%d, k=%d, "
                 "lda=%d, ldb=%d, ldc=%d) and no BLAS sgemm_ is loaded\n",
                 *transa, *transb, *m, *n, *k, *lda, *ldb, *ldc);
    std::abort();
  }
  calls_on_blas.fetch_add(1, std::memory_order_relaxed);
  backends.blas(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
