#include "distributed/collectives.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <cstdlib>

namespace sam2::distributed {

void Collectives::AllReduceMean(std::vector<at::Tensor>& tensors) {
  AllReduceSum(tensors);
  if (world_size() == 1) return;
  for (at::Tensor& t : tensors) t.div_(world_size());
}

void SingleProcessCollectives::Abort(int exit_code) {
  std::fflush(nullptr);
  std::_Exit(exit_code);
}

std::unique_ptr<Collectives> MakeSingleProcessCollectives() {
  return std::make_unique<SingleProcessCollectives>();
}

}  // namespace sam2::distributed
