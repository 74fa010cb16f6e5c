#include "sam2/training/loop/seeding.h"

#include <ATen/Context.h>

namespace sam2::training {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t MixSeed(std::initializer_list<uint64_t> parts) {
  uint64_t state = 0x5a3d2c1b0e9f8a7dULL;
  for (uint64_t part : parts) state = SplitMix64(state ^ SplitMix64(part));
  return state;
}

uint64_t StepSeed(int64_t seed_value, int rank, int64_t step,
                  SeedStream stream) {
  return MixSeed({static_cast<uint64_t>(seed_value),
                  static_cast<uint64_t>(rank), static_cast<uint64_t>(step),
                  static_cast<uint64_t>(stream)});
}

uint64_t SlotSeed(int64_t seed_value, int64_t epoch, int64_t step, int64_t slot,
                  SeedStream stream) {
  // A tag keeps these apart from StepSeed's streams.
  return MixSeed({static_cast<uint64_t>(seed_value), 0x736c6f74ULL,
                  static_cast<uint64_t>(epoch), static_cast<uint64_t>(step),
                  static_cast<uint64_t>(slot), static_cast<uint64_t>(stream)});
}

uint64_t ModelInitSeed(int64_t seed_value) {
  return MixSeed({static_cast<uint64_t>(seed_value),
                  static_cast<uint64_t>(SeedStream::kModelInit)});
}

void SeedTorch(uint64_t seed) {
  // at::manual_seed seeds the CPU generator and, in CUDA builds, every GPU's.
  at::manual_seed(seed & 0x7fffffffffffffffULL);
}

}  // namespace sam2::training
