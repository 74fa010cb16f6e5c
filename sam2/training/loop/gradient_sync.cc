#include "sam2/training/loop/gradient_sync.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
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

// left += right, where an undefined gradient adds nothing.
void AddInto(at::Tensor& left, at::Tensor& right) {
  if (!right.defined()) return;
  if (!left.defined()) {
    left = std::move(right);
  } else {
    left.add_(right);
  }
  right = at::Tensor();
}

}  // namespace

SlotGradients::SlotGradients(std::vector<at::Tensor> parameters)
    : parameters_(std::move(parameters)) {}

void SlotGradients::MergeInto(Partial& into, Partial& from) {
  for (size_t i = 0; i < into.grads.size(); ++i) {
    AddInto(into.grads[i], from.grads[i]);
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
  Clear();
}

at::Tensor SlotGradients::FinishParameter(size_t index, at::Tensor last) {
  // The same merges as AddSlot(last) + Finish, on one parameter.
  std::vector<std::pair<at::Tensor, int>> stack;
  for (Partial& partial : stack_) {
    stack.emplace_back(std::move(partial.grads[index]), partial.slots);
  }
  stack.emplace_back(std::move(last), 1);
  while (stack.size() >= 2 &&
         stack[stack.size() - 1].second == stack[stack.size() - 2].second) {
    auto right = std::move(stack.back());
    stack.pop_back();
    AddInto(stack.back().first, right.first);
    stack.back().second += right.second;
  }
  while (stack.size() >= 2) {
    auto right = std::move(stack.back());
    stack.pop_back();
    AddInto(stack.back().first, right.first);
  }
  return stack[0].first;
}

void SlotGradients::Clear() {
  stack_.clear();
  slots_ = 0;
}

// One post-hook per parameter on its gradient accumulator (as DDP's
// reducer): it fires when the parameter's gradient of the backward pass is
// final. Registered once and kept (with the accumulators, so that autograd
// reuses them) for the life of the GradientSync; it acts only while armed.
class GradientSync::Hooks {
 public:
  Hooks(GradientSync* sync,
        std::vector<std::pair<std::string, at::Tensor>>& parameters) {
    for (size_t i = 0; i < parameters.size(); ++i) {
      std::shared_ptr<torch::autograd::Node> accumulator =
          torch::autograd::impl::grad_accumulator(parameters[i].second);
      keys_.push_back(
          accumulator->add_post_hook(std::make_unique<Ready>(sync, i)));
      accumulators_.push_back(std::move(accumulator));
    }
  }
  ~Hooks() {
    for (size_t i = 0; i < accumulators_.size(); ++i) {
      accumulators_[i]->del_post_hook(keys_[i]);
    }
  }

 private:
  struct Ready : torch::autograd::FunctionPostHook {
    Ready(GradientSync* sync, size_t index) : sync(sync), index(index) {}
    torch::autograd::variable_list operator()(
        const torch::autograd::variable_list& outputs,
        const torch::autograd::variable_list& /*inputs*/) override {
      if (sync->armed_world_ != nullptr) sync->OnGradientReady(index);
      return outputs;
    }
    GradientSync* sync;
    size_t index;
  };
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::vector<uintptr_t> keys_;
};

GradientSync::GradientSync(
    std::vector<std::pair<std::string, at::Tensor>> parameters,
    GradientSyncOptions options)
    : parameters_(std::move(parameters)), options_(std::move(options)) {
  // Buckets in reverse parameter order (the order gradients become final in
  // the backward pass), one dtype and device each.
  bucket_of_.resize(parameters_.size());
  int64_t bytes = 0;
  for (size_t k = parameters_.size(); k-- > 0;) {
    const at::Tensor& p = parameters_[k].second;
    const int64_t size = p.numel() * static_cast<int64_t>(p.element_size());
    bool fits = !buckets_.empty() && bytes + size <= options_.bucket_bytes;
    if (fits) {
      const at::Tensor& first = parameters_[buckets_.back().members[0]].second;
      fits = first.scalar_type() == p.scalar_type() &&
             first.device() == p.device();
    }
    if (!fits) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().members.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    bytes += size;
  }
}

GradientSync::~GradientSync() = default;

std::vector<int32_t> GradientSync::RanksUsing(distributed::Collectives& world) {
  const size_t n = parameters_.size();
  at::Tensor counts = at::zeros({static_cast<int64_t>(n)}, at::kInt);
  int32_t* c = counts.data_ptr<int32_t>();
  for (size_t i = 0; i < n; ++i) {
    c[i] = parameters_[i].second.grad().defined() ? 1 : 0;
  }
  if (world.world_size() > 1) {
    std::vector<at::Tensor> t = {counts};
    world.AllReduceSum(t);
  }
  return std::vector<int32_t>(c, c + n);
}

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

void GradientSync::StartBucket(distributed::Collectives& world, Bucket& b,
                               int64_t total_slots) {
  std::vector<at::Tensor> pieces;
  for (size_t i : b.members) {
    const at::Tensor& p = parameters_[i].second;
    const at::Tensor& g = p.grad();
    // Not used here: -0.0, which adds nothing to the other ranks' values.
    pieces.push_back(g.defined() ? g.reshape({-1})
                                 : at::full({p.numel()}, -0.0, p.options()));
  }
  b.flat = at::cat(pieces);
  if (options_.comms_dtype) {
    b.flat = b.flat.div_(total_slots).to(*options_.comms_dtype);
  }
  b.pending = world.StartAllReduceSum({b.flat});
}

void GradientSync::StartReadyBuckets(distributed::Collectives& world,
                                     int64_t total_slots, bool all) {
  while (next_bucket_ < buckets_.size()) {
    Bucket& b = buckets_[next_bucket_];
    if (!all && b.ready < static_cast<int>(b.members.size())) return;
    StartBucket(world, b, total_slots);
    ++next_bucket_;
  }
}

void GradientSync::FinishBuckets(const std::vector<int32_t>& ranks_using,
                                 int64_t total_slots, bool apply) {
  for (Bucket& b : buckets_) {
    b.pending->Wait();
    b.pending.reset();
    if (!apply) {
      b.flat = at::Tensor();
      continue;
    }
    const at::Tensor& first = parameters_[b.members[0]].second;
    at::Tensor flat = b.flat;
    if (options_.comms_dtype) {
      flat = flat.to(first.scalar_type());
    } else {
      flat.div_(total_slots);
    }
    int64_t offset = 0;
    for (size_t i : b.members) {
      at::Tensor& p = parameters_[i].second;
      const at::Tensor mean =
          flat.slice(0, offset, offset + p.numel()).view(p.sizes());
      offset += p.numel();
      if (ranks_using[i] == 0) {
        p.mutable_grad() = at::Tensor();  // no rank used it: no update
      } else if (p.grad().defined()) {
        p.mutable_grad().copy_(mean);
      } else {
        p.mutable_grad() = mean.clone();
      }
    }
    b.flat = at::Tensor();
  }
}

absl::Status GradientSync::Average(distributed::Collectives& world,
                                   int64_t total_slots, int64_t step) {
  const double t0 = Now();
  const std::vector<int32_t> ranks_using = RanksUsing(world);
  if (absl::Status s = CheckUsed(ranks_using, world.world_size(), step);
      !s.ok()) {
    return s;
  }
  if (world.world_size() == 1 && !options_.comms_dtype) {
    for (size_t i = 0; i < parameters_.size(); ++i) {
      at::Tensor& p = parameters_[i].second;
      if (p.grad().defined() && total_slots > 1) {
        p.mutable_grad().div_(total_slots);
      }
    }
  } else {
    next_bucket_ = 0;
    StartReadyBuckets(world, total_slots, /*all=*/true);
    FinishBuckets(ranks_using, total_slots, /*apply=*/true);
  }
  last_sync_seconds_ = world.world_size() > 1 ? Now() - t0 : 0;
  return absl::OkStatus();
}

bool GradientSync::Overlaps(const distributed::Collectives& world) const {
  if (world.world_size() == 1 && !options_.overlap.value_or(false)) {
    return false;
  }
  return options_.overlap.value_or(world.asynchronous());
}

void GradientSync::BeginLastSlot(distributed::Collectives& world,
                                 int64_t total_slots, SlotGradients* slots) {
  if (!hooks_) hooks_ = std::make_unique<Hooks>(this, parameters_);
  final_.assign(parameters_.size(), false);
  for (Bucket& b : buckets_) b.ready = 0;
  next_bucket_ = 0;
  armed_total_slots_ = total_slots;
  armed_slots_ = slots;
  armed_world_ = &world;
}

void GradientSync::OnGradientReady(size_t index) {
  if (final_[index]) return;
  at::Tensor& p = parameters_[index].second;
  p.mutable_grad() = armed_slots_->FinishParameter(index, p.grad());
  final_[index] = true;
  ++buckets_[bucket_of_[index]].ready;
  StartReadyBuckets(*armed_world_, armed_total_slots_, /*all=*/false);
}

absl::Status GradientSync::FinishLastSlot(int64_t step, bool apply) {
  distributed::Collectives& world = *armed_world_;
  const double t0 = Now();
  // Parameters the last slot did not reach: their sum over the earlier
  // slots.
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (!final_[i]) {
      at::Tensor& p = parameters_[i].second;
      p.mutable_grad() = armed_slots_->FinishParameter(i, p.grad());
      final_[i] = true;
    }
  }
  armed_world_ = nullptr;
  StartReadyBuckets(world, armed_total_slots_, /*all=*/true);
  armed_slots_->Clear();
  armed_slots_ = nullptr;
  const std::vector<int32_t> ranks_using = RanksUsing(world);
  absl::Status status = apply ? CheckUsed(ranks_using, world.world_size(), step)
                              : absl::OkStatus();
  // Every rank waits for every collective it issued, even when the step is
  // dropped.
  FinishBuckets(ranks_using, armed_total_slots_, apply && status.ok());
  last_sync_seconds_ = Now() - t0;
  return status;
}

}  // namespace sam2::training
