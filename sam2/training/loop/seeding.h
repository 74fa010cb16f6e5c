// Seeds derived from (seed_value, rank, step, stream). The trainer reseeds
// every random source at the start of each step from these, so a step's
// randomness (prompt simulation, dropout, drop path) depends only on which
// step it is: a run resumed from a checkpoint at step k repeats steps k+1...
// exactly as the uninterrupted run did.
//
// Differs from the reference on purpose: it seeds once per process
// (seed_value + rank) and lets the generators run on, so its resumed runs
// diverge from uninterrupted ones.
#ifndef SAM2_TRAINING_LOOP_SEEDING_H_
#define SAM2_TRAINING_LOOP_SEEDING_H_

#include <cstdint>
#include <initializer_list>

namespace sam2::training {

// Independent random streams per step.
enum class SeedStream : uint64_t {
  kTorch = 1,      // LibTorch's global generators (dropout, drop path)
  kPrompts = 2,    // SAM2Train's prompt simulation
  kData = 3,       // reserved for the data pipeline
  kModelInit = 4,  // the model's initial weights, before the first step
};

// SplitMix64 over the parts: well mixed, cheap, platform independent.
uint64_t MixSeed(std::initializer_list<uint64_t> parts);

uint64_t StepSeed(int64_t seed_value, int rank, int64_t step,
                  SeedStream stream);

// The seed of micro-batch slot `slot` of optimizer step `step` (in `epoch`):
// what a slot draws does not depend on the rank that computes it.
uint64_t SlotSeed(int64_t seed_value, int64_t epoch, int64_t step, int64_t slot,
                  SeedStream stream);

// The seed of the model's initialisation: (seed_value) only, not the rank,
// so every rank builds the same initial weights. The reference seeds with
// (seed_value + rank) * max_epochs before building the model and lets DDP
// broadcast rank 0's weights; the effect (one set of initial weights fixed by
// the seed) is the same, the numbers are not (LibTorch's initialisers draw
// differently from PyTorch's anyway).
uint64_t ModelInitSeed(int64_t seed_value);

// Seeds LibTorch's default CPU generator (and the CUDA ones when built with
// CUDA) with `seed`.
void SeedTorch(uint64_t seed);

}  // namespace sam2::training

#endif  // SAM2_TRAINING_LOOP_SEEDING_H_
