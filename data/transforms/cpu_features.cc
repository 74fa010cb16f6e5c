#include "data/transforms/cpu_features.h"

namespace sam2::data::ops {
namespace {

SimdLevel Detect() {
#if SAM2_X86_SIMD
  // Safe to call more than once; needed when running before constructors.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return SimdLevel::kAvx2;
  if (__builtin_cpu_supports("sse4.1")) return SimdLevel::kSse41;
#endif
  return SimdLevel::kBaseline;
}

}  // namespace

SimdLevel CpuSimdLevel() {
  static const SimdLevel level = Detect();
  return level;
}

}  // namespace sam2::data::ops
