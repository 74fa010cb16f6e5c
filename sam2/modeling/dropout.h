// Dropout with keep masks drawn quickly on the CPU.
//
// LibTorch 1.13 built without MKL (Debian's) draws Bernoulli noise one
// element at a time from its Mersenne Twister: ~35 ns an element, 4% of a
// b+ training step at 256 px for the memory attention's dropouts alone. Here
// a keep mask takes one 64-bit seed from LibTorch's default CPU generator
// and hashes each element's index with it (SplitMix64), in parallel: the
// same distribution (each element kept with probability 1 - p,
// independently), reproducible under at::manual_seed and the same for any
// thread count, but not the reference's draws (a training run could not
// replay those anyway). CUDA tensors keep LibTorch's own dropout.
#ifndef SAM2_MODELING_DROPOUT_H_
#define SAM2_MODELING_DROPOUT_H_

#include <ATen/core/Tensor.h>

namespace sam2::modeling {

// A bool tensor of `like`'s shape (contiguous, on the CPU): true where an
// element is kept, with probability 1 - p. CPU only.
at::Tensor DropoutKeepMask(const at::Tensor& like, double p);

// `keep` as at::dropout's noise: 1 / (1 - p) where kept, else 0.
at::Tensor DropoutScale(const at::Tensor& keep, double p,
                        at::ScalarType dtype = at::kFloat);

// x * DropoutScale(keep, p, x's dtype), bitwise, in one pass without the
// float noise tensor (float CPU tensors; others multiply by the noise).
// `keep` has x's shape.
at::Tensor ApplyKeepMask(const at::Tensor& x, const at::Tensor& keep, double p);

// The same in place: `x` must be contiguous.
void ApplyKeepMaskInPlace(at::Tensor& x, const at::Tensor& keep, double p);

// at::dropout(x, p, train) with the keep mask above on CPU tensors: the
// same arithmetic, x * (keep / (1 - p)), as one autograd node that keeps
// the mask as bytes (where autograd's mul would keep the float noise).
// Identity when !train or p == 0.
at::Tensor Dropout(const at::Tensor& x, double p, bool train);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_DROPOUT_H_
