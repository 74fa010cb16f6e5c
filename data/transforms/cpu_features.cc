#include "data/transforms/cpu_features.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

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

SimdLevel RequestedSimdLevel(const char* env_value) {
  if (env_value == nullptr) return SimdLevel::kAvx2;
  if (std::strcmp(env_value, "baseline") == 0) return SimdLevel::kBaseline;
  if (std::strcmp(env_value, "sse4.1") == 0) return SimdLevel::kSse41;
  return SimdLevel::kAvx2;
}

SimdLevel CpuSimdLevel() {
  static const SimdLevel level =
      std::min(Detect(), RequestedSimdLevel(std::getenv("SAM2_SIMD_LEVEL")));
  return level;
}

}  // namespace sam2::data::ops
