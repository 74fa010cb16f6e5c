// Random draws for the data pipeline. Every random decision of a sample
// (frame window, objects, augmentation parameters) comes from one Rng seeded
// from (seed, epoch, rank, batch, item) with SeedFrom, so a sample never
// depends on which thread loads it or when.
//
// The draws are ours (std::mt19937_64 plus the helpers below), not Python's
// `random` or torch's generator: the reference's exact numbers cannot be
// reproduced anyway, the distributions are the same.
#ifndef SAM2_DATA_RANDOM_RANDOM_H_
#define SAM2_DATA_RANDOM_RANDOM_H_

#include <cstdint>
#include <initializer_list>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

namespace sam2::data {

using Rng = std::mt19937_64;

// SplitMix64 finaliser: a well-mixed 64-bit hash of one word.
inline uint64_t MixBits(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A seed from several integers; order matters, (1, 2) != (2, 1).
inline uint64_t SeedFrom(std::initializer_list<uint64_t> parts) {
  uint64_t h = 0x243f6a8885a308d3ULL;
  for (uint64_t p : parts) h = MixBits(h ^ MixBits(p));
  return h;
}

// Uniform in [0, 1) with 53 random bits (Python's random.random()).
inline double Uniform01(Rng& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// Uniform in [lo, hi) (torch's uniform_(lo, hi) / random.uniform).
inline double UniformReal(Rng& rng, double lo, double hi) {
  return lo + (hi - lo) * Uniform01(rng);
}

// Uniform integer in [lo, hi], both inclusive (random.randint), unbiased.
inline int64_t UniformInt(Rng& rng, int64_t lo, int64_t hi) {
  const uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
  if (range == 0) return static_cast<int64_t>(rng());  // the full 64 bits
  const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  uint64_t r;
  do {
    r = rng();
  } while (r >= limit);
  return lo + static_cast<int64_t>(r % range);
}

// True with probability p (random.random() < p).
inline bool Bernoulli(Rng& rng, double p) { return Uniform01(rng) < p; }

// A uniformly random permutation of 0..n-1 (Fisher-Yates).
inline std::vector<int64_t> RandomPermutation(Rng& rng, int64_t n) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(perm[i], perm[UniformInt(rng, 0, i)]);
  }
  return perm;
}

// k distinct elements in random order (random.sample(population, k)).
template <typename T>
std::vector<T> SampleWithoutReplacement(Rng& rng, std::vector<T> population,
                                        size_t k) {
  if (k > population.size()) k = population.size();
  for (size_t i = 0; i < k; ++i) {
    const size_t j = static_cast<size_t>(
        UniformInt(rng, static_cast<int64_t>(i),
                   static_cast<int64_t>(population.size()) - 1));
    std::swap(population[i], population[j]);
  }
  population.resize(k);
  return population;
}

}  // namespace sam2::data

#endif  // SAM2_DATA_RANDOM_RANDOM_H_
