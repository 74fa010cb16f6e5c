#include "sam2/modeling/dropout.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

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
  const uint64_t threshold = static_cast<uint64_t>(std::ldexp(1.0 - p, 32));
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

namespace {

// The kept elements' factor as DropoutScale computes it (LibTorch's float
// division of 1 by 1 - p), so that the fused products below are bitwise
// x * DropoutScale(keep, p).
float KeptScale(double p) { return at::ones({1}).div_(1 - p).item<float>(); }

bool FusedKeepMaskApplies(const at::Tensor& x, const at::Tensor& keep) {
  return x.is_cpu() && x.scalar_type() == at::kFloat && keep.is_cpu() &&
         keep.scalar_type() == at::kBool && keep.sizes() == x.sizes();
}

// out[i] = in[i] * (keep[i] ? scale : 0): the same float product as
// multiplying by the noise tensor, element by element.
void KeepMaskKernel(const float* in, const bool* keep, float scale, float* out,
                    int64_t n) {
  at::parallel_for(0, n, int64_t{1} << 15, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      out[i] = in[i] * (keep[i] ? scale : 0.0f);
    }
  });
}

}  // namespace

at::Tensor ApplyKeepMask(const at::Tensor& x, const at::Tensor& keep,
                         double p) {
  if (!FusedKeepMaskApplies(x, keep)) {
    return x * DropoutScale(keep, p, x.scalar_type());
  }
  const at::Tensor in = x.contiguous();
  const at::Tensor mask = keep.contiguous();
  at::Tensor out = at::empty(in.sizes(), in.options());
  KeepMaskKernel(in.data_ptr<float>(), mask.data_ptr<bool>(), KeptScale(p),
                 out.data_ptr<float>(), in.numel());
  return out;
}

void ApplyKeepMaskInPlace(at::Tensor& x, const at::Tensor& keep, double p) {
  TORCH_CHECK(x.is_contiguous(), "ApplyKeepMaskInPlace: x must be contiguous");
  if (!FusedKeepMaskApplies(x, keep)) {
    x.mul_(DropoutScale(keep, p, x.scalar_type()));
    return;
  }
  const at::Tensor mask = keep.contiguous();
  float* data = x.data_ptr<float>();
  KeepMaskKernel(data, mask.data_ptr<bool>(), KeptScale(p), data, x.numel());
}

namespace {

// x * noise as one node: the backward pass multiplies by the same noise,
// rebuilt from the byte mask.
class DropoutFunction : public torch::autograd::Function<DropoutFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx,
                            const at::Tensor& x, double p) {
    const at::Tensor keep = DropoutKeepMask(x, p);
    ctx->save_for_backward({keep});
    ctx->saved_data["p"] = p;
    return ApplyKeepMask(x, keep, p);
  }
  static torch::autograd::variable_list backward(
      torch::autograd::AutogradContext* ctx,
      torch::autograd::variable_list grads) {
    const at::Tensor keep = ctx->get_saved_variables()[0];
    const double p = ctx->saved_data["p"].toDouble();
    return {ApplyKeepMask(grads[0], keep, p), at::Tensor()};
  }
};

}  // namespace

at::Tensor Dropout(const at::Tensor& x, double p, bool train) {
  if (!train || p == 0.0) return x;
  if (!x.is_cpu() || !at::isFloatingType(x.scalar_type())) {
    return at::dropout(x, p, train);
  }
  // As at::dropout: p == 1 zeroes everything (without dividing by 0).
  if (p == 1.0) return x * at::zeros({}, x.options());
  if (x.scalar_type() != at::kFloat) {
    return x * DropoutScale(DropoutKeepMask(x, p), p, x.scalar_type());
  }
  return DropoutFunction::apply(x, p);
}

}  // namespace sam2::modeling
