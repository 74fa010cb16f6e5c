// The one place where the pixel kernels learn which instruction sets the CPU
// has. The build targets baseline x86-64 (SSE2); the SSE4.1 and AVX2 kernels
// are compiled for their instruction set with SAM2_TARGET_* and chosen at run
// time, so one binary runs everywhere and uses AVX2 where it exists.
//
// Every kernel family (affine, resize, masks, colour) picks its
// implementation the same way: a table of function pointers per SimdLevel,
// and a function-local static holding the table for CpuSimdLevel(), so the
// choice is made once per family and costs one indirect call per kernel.
// The levels compute the same pixels (integer sums, or the same float
// operations in the same order); the one documented exception is the
// bilinear RGB affine, whose AVX2 kernel takes Pillow's per-pixel source
// points where the SSE2 loop steps them (see image_ops_affine.cc).
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
// The environment variable SAM2_SIMD_LEVEL=baseline|sse4.1|avx2 lowers it
// (never raises it; other values are ignored): for checking that every
// level computes the same pixels, and for A/B timings.
SimdLevel CpuSimdLevel();

// The level SAM2_SIMD_LEVEL asks for, kAvx2 when unset or unknown.
SimdLevel RequestedSimdLevel(const char* env_value);

}  // namespace sam2::data::ops

#endif  // SAM2_DATA_TRANSFORMS_CPU_FEATURES_H_
