#include "third_party/blas/onednn_sgemm.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

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

// Column-major C = op(A) op(B) is row-major C^T = op(B)^T op(A)^T, and a
// column-major operand read row-major is its transpose: so oneDNN gets the
// operands swapped with their own transpose flags and m, n swapped.
bool RunOnOneDnn(const Backends& b, char transa, char transb, int m, int n,
                 int k, float alpha, const float* a, int lda, const float* bm,
                 int ldb, float beta, float* c, int ldc) {
  // Degenerate products keep the BLAS's exact semantics.
  if (m <= 0 || n <= 0 || k <= 0) return false;
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
