// The trainer's collective points (loss averaging, gradient sync, barriers,
// agreeing on a resume position) behind one small interface. This file has
// the single-process implementation; MPI/NCCL implementations plug in here
// without the trainer changing.
#ifndef SAM2_DISTRIBUTED_COLLECTIVES_H_
#define SAM2_DISTRIBUTED_COLLECTIVES_H_

#include <ATen/core/Tensor.h>

#include <memory>
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
  bool is_main() const { return rank() == 0; }

  // Sums each tensor in place over all ranks.
  virtual void AllReduceSum(std::vector<at::Tensor>& tensors) = 0;
  // Averages each tensor in place over all ranks (gradients, losses).
  void AllReduceMean(std::vector<at::Tensor>& tensors);
  // Copies `tensor` of rank `root` into every rank's `tensor`.
  virtual void Broadcast(at::Tensor& tensor, int root) = 0;
  virtual void Barrier() = 0;
};

// One process: every collective is the identity.
class SingleProcessCollectives final : public Collectives {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  int local_rank() const override { return 0; }
  void AllReduceSum(std::vector<at::Tensor>&) override {}
  void Broadcast(at::Tensor&, int) override {}
  void Barrier() override {}
};

std::unique_ptr<Collectives> MakeSingleProcessCollectives();

}  // namespace sam2::distributed

#endif  // SAM2_DISTRIBUTED_COLLECTIVES_H_
