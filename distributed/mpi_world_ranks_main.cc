// Run under mpirun by mpi_world_ranks_test.sh: every rank checks the
// collectives against the canonical-order sums it computes itself (every rank's
// input is a fixed function of the rank number), bitwise. Prints
// "rank R of W: ok" or the first mismatch and exits 1.
#include <ATen/ATen.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "distributed/mpi_world.h"

namespace {

using sam2::distributed::Collectives;

// Rank r's input for case `seed`: values whose float sums depend on order.
at::Tensor Input(int rank, int64_t n, at::ScalarType dtype, int seed) {
  at::Tensor base = at::arange(n, at::kDouble);
  at::Tensor t = at::sin(base * (0.37 + 0.11 * rank + 0.013 * seed)) *
                 std::pow(10.0, (rank % 3) * 3 - 3);
  if (dtype == at::kLong) return (t * 1e6).to(at::kLong);
  if (dtype == at::kBool) return t > 0.9;
  return t.to(dtype);
}

// The canonical pairwise tree, written out recursively (independently of
// SumInCanonicalOrder's stack): split at the largest power of two below n.
at::Tensor TreeSum(int first, int n, int64_t size, at::ScalarType dtype,
                   int seed) {
  if (n == 1) return Input(first, size, dtype, seed).clone();
  int m = 1;
  while (m * 2 < n) m *= 2;
  at::Tensor left = TreeSum(first, m, size, dtype, seed);
  at::Tensor right = TreeSum(first + m, n - m, size, dtype, seed);
  return dtype == at::kBool ? left.logical_or_(right) : left.add_(right);
}

at::Tensor RankOrderSum(int world, int64_t n, at::ScalarType dtype, int seed) {
  return TreeSum(0, world, n, dtype, seed);
}

int failures = 0;
void Expect(bool ok, int rank, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "rank %d: %s\n", rank, what.c_str());
    ++failures;
  }
}

void CheckAllReduce(Collectives& world, int64_t n, at::ScalarType dtype,
                    int seed) {
  const int rank = world.rank();
  std::vector<at::Tensor> tensors = {Input(rank, n, dtype, seed)};
  world.AllReduceSum(tensors);
  const at::Tensor expected = RankOrderSum(world.world_size(), n, dtype, seed);
  Expect(at::equal(tensors[0], expected), rank,
         "AllReduceSum " + std::string(c10::toString(dtype)) + " of " +
             std::to_string(n) + " differs from the canonical-order sum");
}

}  // namespace

int main() {
  auto created = sam2::distributed::InitWorld();
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n",
                 std::string(created.status().message()).c_str());
    return 1;
  }
  Collectives& world = **created;
  const int rank = world.rank();
  const char* expected_size = std::getenv("EXPECTED_WORLD_SIZE");
  Expect(expected_size != nullptr &&
             world.world_size() == std::atoi(expected_size),
         rank, "unexpected world size");
  for (at::ScalarType dtype : {at::kFloat, at::kDouble, at::kLong, at::kBool}) {
    CheckAllReduce(world, 1000, dtype, 1);
    CheckAllReduce(world, 0, dtype, 2);  // empty
  }
  // > 25 MB (the size of a gradient bucket): 7M floats, two all-reduce
  // chunks of 16 MiB; and doubles with a partial last chunk.
  CheckAllReduce(world, 7'000'000, at::kFloat, 3);
  CheckAllReduce(world, 2'500'001, at::kDouble, 6);
  // Non-contiguous: a transposed view is reduced in place.
  {
    at::Tensor base = Input(rank, 12, at::kFloat, 4).view({3, 4});
    at::Tensor view = base.t();
    std::vector<at::Tensor> tensors = {view};
    world.AllReduceSum(tensors);
    at::Tensor expected =
        RankOrderSum(world.world_size(), 12, at::kFloat, 4).view({3, 4}).t();
    Expect(at::equal(base.t(), expected), rank, "non-contiguous AllReduceSum");
  }
  // Mean of doubles, Broadcast from the last rank, Barrier.
  {
    std::vector<at::Tensor> tensors = {at::full({2}, double(rank))};
    world.AllReduceMean(tensors);
    const double mean = (world.world_size() - 1) / 2.0;
    Expect(at::equal(tensors[0], at::full({2}, mean)), rank, "AllReduceMean");
    const int root = world.world_size() - 1;
    at::Tensor b = Input(rank, 100, at::kFloat, 5);
    world.Broadcast(b, root);
    Expect(at::equal(b, Input(root, 100, at::kFloat, 5)), rank, "Broadcast");
    world.Barrier();
  }
  Expect(world.num_nodes() == 1, rank, "one node expected");
  if (failures == 0)
    std::printf("rank %d of %d: ok\n", rank, world.world_size());
  return failures == 0 ? 0 : 1;
}
