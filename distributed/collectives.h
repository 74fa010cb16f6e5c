// The trainer's collective points (loss averaging, gradient sync, barriers,
// agreeing on a resume position) behind one small interface. This file has
// the single-process implementation; MPI/NCCL implementations plug in here
// without the trainer changing.
#ifndef SAM2_DISTRIBUTED_COLLECTIVES_H_
#define SAM2_DISTRIBUTED_COLLECTIVES_H_

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sam2::distributed {

class Collectives {
 public:
  virtual ~Collectives() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Rank within this node (selects the GPU).
  virtual int local_rank() const = 0;
  // Nodes (hosts) the ranks run on.
  virtual int num_nodes() const { return 1; }
  // How the ranks talk, for the logs: "no launcher", "MPI", "MPI + NCCL".
  virtual std::string transport() const { return "no launcher"; }
  bool is_main() const { return rank() == 0; }

  // Sums each tensor in place over all ranks. Implementations that promise
  // bitwise world-size independence (MPI) add the ranks' tensors in the
  // canonical pairwise order of SumInCanonicalOrder (below).
  virtual void AllReduceSum(std::vector<at::Tensor>& tensors) = 0;
  // Starts summing `tensors` in place over all ranks; nothing may read or
  // write them until the returned handle's Wait(). Implementations without
  // asynchronous collectives finish the sum before returning.
  class Pending {
   public:
    virtual ~Pending() = default;
    virtual void Wait() {}
  };
  // Whether StartAllReduceSum returns before the sum is done (so that it
  // can overlap computation).
  virtual bool asynchronous() const { return false; }
  virtual std::unique_ptr<Pending> StartAllReduceSum(
      std::vector<at::Tensor> tensors) {
    AllReduceSum(tensors);
    return std::make_unique<Pending>();
  }
  // Averages each tensor in place over all ranks (gradients, losses).
  void AllReduceMean(std::vector<at::Tensor>& tensors);
  // Copies `tensor` of rank `root` into every rank's `tensor`.
  virtual void Broadcast(at::Tensor& tensor, int root) = 0;
  virtual void Barrier() = 0;
  // Ends every rank of the job with `exit_code` (after the caller printed why).
  [[noreturn]] virtual void Abort(int exit_code) = 0;
  // A collective that waits longer than this for its peers ends the job
  // (a peer is gone or stuck); 0: wait forever.
  virtual void SetTimeoutSeconds(double seconds) {}
  // Where a timed-out collective leaves its trace (and ranks their
  // progress); empty: nowhere.
  virtual void SetTraceDirectory(const std::string& dir) {}
};

// The canonical summation of n values v_0..v_{n-1}: split at the largest
// power of two m < n, sum(v_0..v_{m-1}) + sum(v_m..v_{n-1}), recursively.
// Ranks and micro-batch slots both sum in this order, which is what makes
// W ranks x A micro-batches bitwise equal to W' x A' with W A = W' A' when A
// and A' are powers of two: blocks of A consecutive slots aligned at
// multiples of A are subtrees of the canonical tree over W A slots.
// Calls add(i, j) meaning "value i += value j", in an order that realises the
// tree; the result ends in value 0.
template <typename AddInto>
void SumInCanonicalOrder(int n, AddInto add) {
  // Sizes of the pending partial sums, stored at their first index.
  std::vector<std::pair<int, int>> stack;  // (first index, count)
  for (int i = 0; i < n; ++i) {
    stack.emplace_back(i, 1);
    while (stack.size() >= 2 &&
           stack[stack.size() - 1].second == stack[stack.size() - 2].second) {
      auto right = stack.back();
      stack.pop_back();
      add(stack.back().first, right.first);
      stack.back().second += right.second;
    }
  }
  while (stack.size() >= 2) {
    auto right = stack.back();
    stack.pop_back();
    add(stack.back().first, right.first);
    stack.back().second += right.second;
  }
}

// One process: every collective is the identity.
class SingleProcessCollectives final : public Collectives {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  void AllReduceSum(std::vector<at::Tensor>&) override {}
  void Broadcast(at::Tensor&, int) override {}
  void Barrier() override {}
  [[noreturn]] void Abort(int exit_code) override;
};

std::unique_ptr<Collectives> MakeSingleProcessCollectives();

}  // namespace sam2::distributed

#endif  // SAM2_DISTRIBUTED_COLLECTIVES_H_
