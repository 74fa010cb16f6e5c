// Builds against another LibTorch (--config=cuda: a PyTorch installation's,
// with its BLAS and oneDNN linked in statically) keep LibTorch's own matrix
// products; nothing is interposed.
#include "third_party/blas/onednn_sgemm.h"

namespace sam2::blas {

SgemmRoute ActiveSgemmRoute() { return SgemmRoute::kBlas; }
std::string DescribeSgemmRoute() { return "LibTorch's own BLAS"; }
int64_t SgemmCallsOnOneDnn() { return 0; }
int64_t SgemmCallsOnBlas() { return 0; }
void SetSgemmRouteForTesting(SgemmRoute) {}

}  // namespace sam2::blas
