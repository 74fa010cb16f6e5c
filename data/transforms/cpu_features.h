// The one place where the pixel kernels learn which instruction sets the CPU
// has. The build targets baseline x86-64 (SSE2); the SSE4.1 and AVX2 kernels
// are compiled for their instruction set with SAM2_TARGET_* and chosen at run
// time, so one binary runs everywhere and uses AVX2 where it exists.
//
// Every kernel family (affine, resize, masks, colour) picks its
// implementation the same way: a table of function pointers per SimdLevel,
// and a function-local static holding the table for CpuSimdLevel(), so the
// choice is made once per family and costs one indirect call per kernel.
// Each table's kernels give bit-identical results (integer sums, or the same
// float operations in the same order): the level changes speed, not pixels.
#ifndef SAM2_DATA_TRANSFORMS_CPU_FEATURES_H_
#define SAM2_DATA_TRANSFORMS_CPU_FEATURES_H_

#if defined(__x86_64__) && defined(__GNUC__)
// x86-64 with GCC/Clang: SSE4.1 and AVX2 kernels exist.
#define SAM2_X86_SIMD 1
#define SAM2_TARGET_SSE41 __attribute__((target("sse4.1")))
#define SAM2_TARGET_AVX2 __attribute__((target("avx2")))
#endif

// Forces a plain loop into each function it is called from, so that the
// compiler vectorises it for that function's target (the AVX2 variant of a
// scalar kernel is the same source compiled with SAM2_TARGET_AVX2).
#define SAM2_INLINE_BODY inline __attribute__((always_inline))

namespace sam2::data::ops {

// Ordered: a level includes the ones below it.
enum class SimdLevel { kBaseline = 0, kSse41 = 1, kAvx2 = 2 };

// The best level this CPU runs, detected on the first call (thread-safe).
SimdLevel CpuSimdLevel();

}  // namespace sam2::data::ops

#endif  // SAM2_DATA_TRANSFORMS_CPU_FEATURES_H_
