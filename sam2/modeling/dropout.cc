#include "sam2/modeling/dropout.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <cstdint>
#include <mutex>

namespace sam2::modeling {
namespace {

uint64_t SeedFromDefaultGenerator() {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(generator)->random64();
}

// SplitMix64's output function on seed + (i + 1) * golden ratio: a
// different, well-mixed 64-bit value for every index.
inline uint64_t Hash(uint64_t seed, uint64_t index) {
  uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

at::Tensor DropoutKeepMask(const at::Tensor& like, double p) {
  TORCH_CHECK(like.is_cpu(), "DropoutKeepMask: CPU tensors only");
  TORCH_CHECK(p >= 0.0 && p <= 1.0, "dropout probability ", p,
              " is not in [0, 1]");
  at::Tensor keep = at::empty(like.sizes(), like.options().dtype(at::kBool));
  const int64_t n = keep.numel();
  if (n == 0) return keep;
  // Kept where the top 32 bits fall below (1 - p) * 2^32.
  const uint64_t threshold =
      static_cast<uint64_t>(std::ldexp(1.0 - p, 32));
  const uint64_t seed = SeedFromDefaultGenerator();
  bool* out = keep.data_ptr<bool>();
  at::parallel_for(0, n, int64_t{1} << 15, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      out[i] = (Hash(seed, static_cast<uint64_t>(i)) >> 32) < threshold;
    }
  });
  return keep;
}

at::Tensor DropoutScale(const at::Tensor& keep, double p,
                        at::ScalarType dtype) {
  return keep.to(dtype).div_(1 - p);
}

at::Tensor Dropout(const at::Tensor& x, double p, bool train) {
  if (!train || p == 0.0) return x;
  if (!x.is_cpu() || !at::isFloatingType(x.scalar_type())) {
    return at::dropout(x, p, train);
  }
  // As at::dropout: p == 1 zeroes everything (without dividing by 0).
  if (p == 1.0) return x * at::zeros({}, x.options());
  return x * DropoutScale(DropoutKeepMask(x, p), p, x.scalar_type());
}

}  // namespace sam2::modeling
