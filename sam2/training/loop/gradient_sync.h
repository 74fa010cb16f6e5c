// Gradients of one optimizer step over W ranks x A micro-batch slots, as
// DDP with gradient accumulation computes them, but in an order that does not
// depend on how the slots are spread over ranks:
//
//   SlotGradients  on each rank, sums its A slots' gradients in the
//                  canonical pairwise order (distributed/collectives.h).
//   GradientSync   sums those over ranks in flat buckets (~25 MB, fixed
//                  order), canonical order again, and divides by W x A.
//
// With A a power of two (or W = 1), the canonical tree over the W A slots is
// the tree over ranks of the trees over each rank's slots, so W x A and
// W' x A' with W A = W' A' give bitwise the same averaged gradients on the
// CPU. Unused parameters follow DDP's find_unused_parameters: a parameter no
// slot of any rank used keeps no gradient (the optimizer leaves it alone); one
// used somewhere contributes zeros (-0.0, the exact identity of float
// addition) where it was not used. Without find_unused_parameters a
// parameter missing a gradient on any rank is an error, as DDP's.
#ifndef SAM2_TRAINING_LOOP_GRADIENT_SYNC_H_
#define SAM2_TRAINING_LOOP_GRADIENT_SYNC_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "distributed/collectives.h"

namespace sam2::training {

class SlotGradients {
 public:
  explicit SlotGradients(std::vector<at::Tensor> parameters);

  // Moves the gradients the last backward pass left in the parameters
  // (undefined: the slot did not use the parameter) into the running sum;
  // the parameters' gradients are undefined afterwards.
  void AddSlot();
  // Puts the sum over the slots added since the last Finish into the
  // parameters' gradients (undefined where no slot used a parameter).
  void Finish();
  int slots_added() const { return slots_; }

 private:
  struct Partial {
    std::vector<at::Tensor> grads;
    int slots = 0;
  };
  static void MergeInto(Partial& into, Partial& from);

  std::vector<at::Tensor> parameters_;
  std::vector<Partial> stack_;
  int slots_ = 0;
};

struct GradientSyncOptions {
  // Gradients are all-reduced in flat buffers of about this many bytes.
  int64_t bucket_bytes = int64_t{25} << 20;
  // The reference's distributed.comms_dtype: buckets are divided by the
  // number of slots, cast to this type, summed, and cast back (DDP's
  // fp16/bf16_compress_hook). Unset: summed in the gradients' own type.
  std::optional<at::ScalarType> comms_dtype;
  bool find_unused_parameters = false;
};

class GradientSync {
 public:
  GradientSync(std::vector<std::pair<std::string, at::Tensor>> parameters,
               GradientSyncOptions options);

  // Replaces every parameter's gradient (this rank's sum over its slots)
  // by the mean over the `total_slots` slots of all ranks. `step` names the
  // step in errors.
  absl::Status Average(distributed::Collectives& world, int64_t total_slots,
                       int64_t step);

  // Seconds spent in the collectives of the last Average (the sync's share
  // of a step).
  double last_sync_seconds() const { return last_sync_seconds_; }

 private:
  absl::Status CheckUsed(const std::vector<int32_t>& ranks_using, int world,
                         int64_t step) const;
  void SumBuckets(distributed::Collectives& world,
                  const std::vector<size_t>& used, int64_t total_slots);

  std::vector<std::pair<std::string, at::Tensor>> parameters_;
  GradientSyncOptions options_;
  double last_sync_seconds_ = 0;
};

}  // namespace sam2::training

#endif  // SAM2_TRAINING_LOOP_GRADIENT_SYNC_H_
