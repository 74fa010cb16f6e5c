// LibTorch's float32 matrix products on oneDNN's sgemm.
//
// Debian's LibTorch ends every CPU float32 matrix product (mm, addmm, bmm,
// linear, their gradients) in the Fortran BLAS `sgemm_` of libblas.so.3,
// OpenBLAS 0.3.21 here. That OpenBLAS does not know AVX-512 Zen 4 and runs
// its AVX2 (Haswell) kernels there: half of what the cores can do. oneDNN,
// which LibTorch already loads for convolutions, picks its kernels from the
// instruction set itself (AVX-512 on Zen 4, AMX on Sapphire Rapids, AVX2
// elsewhere). A binary linking :onednn_sgemm defines `sgemm_` itself, so
// LibTorch's calls resolve to it, and it hands each product to oneDNN's
// `dnnl_sgemm`, falling back to the BLAS where oneDNN is missing or refuses
// the arguments.
//
// The environment variable SAM2_CPU_SGEMM chooses: `onednn` (the default) or
// `blas` (LibTorch's BLAS, as without this library).
#ifndef SAM2_THIRD_PARTY_BLAS_ONEDNN_SGEMM_H_
#define SAM2_THIRD_PARTY_BLAS_ONEDNN_SGEMM_H_

#include <cstdint>
#include <string>

namespace sam2::blas {

enum class SgemmRoute { kOneDnn, kBlas };

// Where this process's float32 matrix products go (resolved once, on first
// use, from SAM2_CPU_SGEMM and what loads).
SgemmRoute ActiveSgemmRoute();

// One line for logs, e.g. "oneDNN sgemm (libdnnl.so.2)" or
// "BLAS sgemm_ (SAM2_CPU_SGEMM=blas)".
std::string DescribeSgemmRoute();

// Products handed to oneDNN / to the BLAS since start (tests, diagnostics).
int64_t SgemmCallsOnOneDnn();
int64_t SgemmCallsOnBlas();

// Overrides the route for the rest of the process (tests). kOneDnn where
// oneDNN did not load stays on the BLAS.
void SetSgemmRouteForTesting(SgemmRoute route);

}  // namespace sam2::blas

#endif  // SAM2_THIRD_PARTY_BLAS_ONEDNN_SGEMM_H_
