#include "sam2/training/loop/gradient_sync.h"

#include <ATen/ATen.h>

#include <chrono>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sam2::training {
namespace {

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

SlotGradients::SlotGradients(std::vector<at::Tensor> parameters)
    : parameters_(std::move(parameters)) {}

void SlotGradients::MergeInto(Partial& into, Partial& from) {
  for (size_t i = 0; i < into.grads.size(); ++i) {
    at::Tensor& right = from.grads[i];
    if (!right.defined()) continue;
    at::Tensor& left = into.grads[i];
    if (!left.defined()) {
      left = std::move(right);
    } else {
      left.add_(right);
    }
  }
  into.slots += from.slots;
  from = Partial();
}

void SlotGradients::AddSlot() {
  Partial slot;
  slot.slots = 1;
  slot.grads.reserve(parameters_.size());
  for (at::Tensor& p : parameters_) {
    slot.grads.push_back(p.grad());
    p.mutable_grad() = at::Tensor();
  }
  stack_.push_back(std::move(slot));
  ++slots_;
  // The canonical order: merge while the two newest partial sums cover the
  // same number of slots (a binary counter; see SumInCanonicalOrder).
  while (stack_.size() >= 2 &&
         stack_[stack_.size() - 1].slots == stack_[stack_.size() - 2].slots) {
    Partial right = std::move(stack_.back());
    stack_.pop_back();
    MergeInto(stack_.back(), right);
  }
}

void SlotGradients::Finish() {
  while (stack_.size() >= 2) {
    Partial right = std::move(stack_.back());
    stack_.pop_back();
    MergeInto(stack_.back(), right);
  }
  for (size_t i = 0; i < parameters_.size(); ++i) {
    parameters_[i].mutable_grad() =
        stack_.empty() ? at::Tensor() : stack_[0].grads[i];
  }
  stack_.clear();
  slots_ = 0;
}

GradientSync::GradientSync(
    std::vector<std::pair<std::string, at::Tensor>> parameters,
    GradientSyncOptions options)
    : parameters_(std::move(parameters)), options_(std::move(options)) {}

absl::Status GradientSync::CheckUsed(const std::vector<int32_t>& ranks_using,
                                     int world, int64_t step) const {
  if (options_.find_unused_parameters) return absl::OkStatus();
  std::vector<std::string> missing;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (ranks_using[i] < world) missing.push_back(parameters_[i].first);
  }
  if (missing.empty()) return absl::OkStatus();
  const size_t shown = std::min<size_t>(missing.size(), 8);
  return absl::FailedPreconditionError(absl::StrCat(
      "step ", step, ": ", missing.size(),
      " trainable parameter(s) received no gradient",
      world > 1 ? " on at least one rank" : "", " (",
      absl::StrJoin(missing.begin(), missing.begin() + shown, ", "),
      missing.size() > shown ? ", ..." : "",
      "): set distributed.find_unused_parameters: true (as DDP requires), "
      "or freeze them"));
}

absl::Status GradientSync::Average(distributed::Collectives& world,
                                   int64_t total_slots, int64_t step) {
  const double t0 = Now();
  const int ranks = world.world_size();
  const size_t n = parameters_.size();
  // How many ranks used each parameter (one small collective).
  at::Tensor using_ranks = at::zeros({static_cast<int64_t>(n)}, at::kInt);
  int32_t* counts = using_ranks.data_ptr<int32_t>();
  for (size_t i = 0; i < n; ++i) {
    counts[i] = parameters_[i].second.grad().defined() ? 1 : 0;
  }
  if (ranks > 1) {
    std::vector<at::Tensor> t = {using_ranks};
    world.AllReduceSum(t);
  }
  const std::vector<int32_t> ranks_using(counts, counts + n);
  if (absl::Status s = CheckUsed(ranks_using, ranks, step); !s.ok()) return s;
  std::vector<size_t> used;
  for (size_t i = 0; i < n; ++i) {
    if (ranks_using[i] == 0) continue;  // no gradient, no update
    at::Tensor& p = parameters_[i].second;
    if (!p.grad().defined()) p.mutable_grad() = at::full_like(p, -0.0);
    used.push_back(i);
  }
  if (ranks == 1 && !options_.comms_dtype) {
    if (total_slots > 1) {
      for (size_t i : used)
        parameters_[i].second.mutable_grad().div_(total_slots);
    }
  } else {
    SumBuckets(world, used, total_slots);
  }
  last_sync_seconds_ = ranks > 1 ? Now() - t0 : 0;
  return absl::OkStatus();
}

void GradientSync::SumBuckets(distributed::Collectives& world,
                              const std::vector<size_t>& used,
                              int64_t total_slots) {
  struct Bucket {
    std::vector<size_t> members;
    at::Tensor flat;
  };
  std::vector<Bucket> buckets;
  int64_t bytes = 0;
  for (size_t i : used) {
    const at::Tensor& g = parameters_[i].second.grad();
    const int64_t size = g.numel() * static_cast<int64_t>(g.element_size());
    // A bucket holds one dtype on one device, in parameter order.
    bool fits = !buckets.empty() && bytes + size <= options_.bucket_bytes;
    if (fits) {
      const at::Tensor& first =
          parameters_[buckets.back().members[0]].second.grad();
      fits = first.scalar_type() == g.scalar_type() &&
             first.device() == g.device();
    }
    if (!fits) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().members.push_back(i);
    bytes += size;
  }
  std::vector<std::unique_ptr<distributed::Collectives::Pending>> pending;
  for (Bucket& b : buckets) {
    std::vector<at::Tensor> pieces;
    for (size_t i : b.members) {
      pieces.push_back(parameters_[i].second.grad().reshape({-1}));
    }
    b.flat = at::cat(pieces);
    if (options_.comms_dtype) {
      b.flat = b.flat.div_(total_slots).to(*options_.comms_dtype);
    }
    pending.push_back(world.StartAllReduceSum({b.flat}));
  }
  for (size_t k = 0; k < buckets.size(); ++k) {
    pending[k]->Wait();
    Bucket& b = buckets[k];
    at::Tensor flat = b.flat;
    if (options_.comms_dtype) {
      flat = flat.to(parameters_[b.members[0]].second.grad().scalar_type());
    } else {
      flat.div_(total_slots);
    }
    int64_t offset = 0;
    for (size_t i : b.members) {
      at::Tensor& g = parameters_[i].second.mutable_grad();
      g.copy_(flat.slice(0, offset, offset + g.numel()).view(g.sizes()));
      offset += g.numel();
    }
  }
}

}  // namespace sam2::training
