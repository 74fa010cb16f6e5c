// Gradients of one optimizer step over W ranks x A micro-batch slots, as
// DDP with gradient accumulation computes them, but in an order that does not
// depend on how the slots are spread over ranks:
//
//   SlotGradients  on each rank, sums its A slots' gradients in the
//                  canonical pairwise order (distributed/collectives.h).
//   GradientSync   sums those over ranks in flat buckets (~25 MB each, in
//                  reverse parameter order as DDP, so that the buckets of the
//                  last layers fill first during the backward pass), in the
//                  canonical order again, and divides by W x A.
//
// With A a power of two (or W = 1), the canonical tree over the W A slots is
// the tree over ranks of the trees over each rank's slots, so W x A and
// W' x A' with W A = W' A' give bitwise the same averaged gradients on the
// CPU. Unused parameters follow DDP's find_unused_parameters: a parameter no
// slot of any rank used keeps no gradient (the optimizer leaves it alone); one
// used somewhere contributes zeros (-0.0, the exact identity of float
// addition) where it was not used. Without find_unused_parameters a
// parameter missing a gradient on any rank is an error, as DDP's.
//
// Overlap (worlds whose collectives are asynchronous, NCCL): during the last
// slot's backward pass a hook on each parameter's gradient accumulator forms
// that parameter's sum over the slots as soon as its gradient is final, and a
// bucket whose parameters are all final starts its all-reduce at once (in
// bucket order on every rank, as collectives must be issued), so the
// all-reduce overlaps the rest of the backward pass. The arithmetic is the
// same as without overlap, so the result is bitwise the same.
#ifndef SAM2_TRAINING_LOOP_GRADIENT_SYNC_H_
#define SAM2_TRAINING_LOOP_GRADIENT_SYNC_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
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
  // The last slot of one parameter: the sum over the slots added and
  // `last` (its gradient in the last slot; undefined: unused there), added
  // in exactly the order AddSlot + Finish would add them. Each parameter
  // once; then Clear().
  at::Tensor FinishParameter(size_t index, at::Tensor last);
  void Clear();
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
  // Overlap the all-reduce with the backward pass; unset: where the world's
  // collectives are asynchronous (Collectives::asynchronous(), NCCL).
  std::optional<bool> overlap;
};

class GradientSync {
 public:
  GradientSync(std::vector<std::pair<std::string, at::Tensor>> parameters,
               GradientSyncOptions options);
  ~GradientSync();

  // Replaces every parameter's gradient (this rank's sum over its slots)
  // by the mean over the `total_slots` slots of all ranks. `step` names the
  // step in errors.
  absl::Status Average(distributed::Collectives& world, int64_t total_slots,
                       int64_t step);

  // Whether the last slot's backward pass runs between BeginLastSlot and
  // FinishLastSlot in `world`.
  bool Overlaps(const distributed::Collectives& world) const;
  // Arms the hooks for the last slot's backward pass: gradients are summed
  // over `slots` (the earlier slots) and buckets start their all-reduce as
  // they fill.
  void BeginLastSlot(distributed::Collectives& world, int64_t total_slots,
                     SlotGradients* slots);
  // After the last slot's backward pass (or instead of it, when its loss was
  // not finite): starts the buckets still waiting, waits for all, and with
  // `apply` leaves the mean in the gradients as Average does; without, just
  // completes the collectives every rank issued (the step is skipped).
  absl::Status FinishLastSlot(int64_t step, bool apply);

  // Seconds this rank waited in the collectives of the last sync.
  double last_sync_seconds() const { return last_sync_seconds_; }

 private:
  struct Bucket {
    std::vector<size_t> members;  // parameter indices
    at::Tensor flat;              // while its all-reduce runs
    std::unique_ptr<distributed::Collectives::Pending> pending;
    int ready = 0;  // members whose gradient is final (overlap)
  };
  class Hooks;

  // How many ranks used each parameter (one small collective).
  std::vector<int32_t> RanksUsing(distributed::Collectives& world);
  absl::Status CheckUsed(const std::vector<int32_t>& ranks_using, int world,
                         int64_t step) const;
  void StartBucket(distributed::Collectives& world, Bucket& bucket,
                   int64_t total_slots);
  // Starts every bucket from `next_bucket_` on that is ready (all of them
  // with `all`), in order.
  void StartReadyBuckets(distributed::Collectives& world, int64_t total_slots,
                         bool all);
  // Waits for every bucket and leaves the mean in the used parameters'
  // gradients (none for the unused).
  void FinishBuckets(const std::vector<int32_t>& ranks_using,
                     int64_t total_slots, bool apply);
  void OnGradientReady(size_t index);

  std::vector<std::pair<std::string, at::Tensor>> parameters_;
  GradientSyncOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;  // parameter index -> bucket
  double last_sync_seconds_ = 0;
  // Overlap state, between BeginLastSlot and FinishLastSlot.
  std::unique_ptr<Hooks> hooks_;
  distributed::Collectives* armed_world_ = nullptr;
  SlotGradients* armed_slots_ = nullptr;
  std::vector<bool> final_;
  size_t next_bucket_ = 0;
  int64_t armed_total_slots_ = 0;
};

}  // namespace sam2::training

#endif  // SAM2_TRAINING_LOOP_GRADIENT_SYNC_H_
