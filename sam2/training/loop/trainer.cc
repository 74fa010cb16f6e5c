#include "sam2/training/loop/trainer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/torch_errors.h"
#include "distributed/agreement.h"
#include "sam2/checkpoint/state_dict.h"
#include "sam2/training/loop/atomic_file.h"
#include "sam2/training/loop/gradient_sync.h"
#include "sam2/training/loop/seeding.h"

namespace sam2::training {
namespace {

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
}

// The model's state_dict less the keys matching `skip` (the reference's
// exclude_params_matching_unix_pattern).
NamedTensors ModelState(torch::nn::Module& model,
                        const std::vector<std::string>& skip) {
  NamedTensors state;
  for (auto& [name, tensor] : checkpoint::ModelStateDict(model)) {
    if (!checkpoint::MatchesAny(name, skip)) state.emplace_back(name, tensor);
  }
  return state;
}

// As the reference's _load_resuming_checkpoint: the shared state_dict loader,
// strict except for the keys left out when saving.
absl::Status LoadModelState(torch::nn::Module& model, const NamedTensors& state,
                            const std::vector<std::string>& skipped,
                            const std::string& source) {
  checkpoint::LoadOptions options;
  options.ignore_missing_keys = skipped;
  return checkpoint::LoadStateDictIntoModel(model, state, options, source)
      .status();
}

// Video ids of a batch, for naming the culprit of a non-finite loss.
std::string VideoIds(const data::BatchedVideoDatapoint& batch) {
  const at::Tensor& ids = batch.metadata.unique_objects_identifier;
  if (!ids.defined() || ids.numel() == 0) return "?";
  const at::Tensor videos =
      std::get<0>(at::_unique(ids.select(-1, 0).flatten().to(at::kLong)));
  std::vector<int64_t> values;
  for (int64_t i = 0; i < videos.numel(); ++i) {
    values.push_back(videos[i].item<int64_t>());
  }
  std::sort(values.begin(), values.end());
  return absl::StrJoin(values, ",");
}

// Running means of named values (losses) weighted by batch size.
class Averages {
 public:
  void Add(const std::map<std::string, double>& values, double weight) {
    for (const auto& [k, v] : values) {
      sums_[k] += v * weight;
      weights_[k] += weight;
    }
  }
  std::map<std::string, double> Means() const {
    std::map<std::string, double> out;
    for (const auto& [k, s] : sums_)
      out[k] = s / std::max(weights_.at(k), 1e-12);
    return out;
  }
  void Clear() {
    sums_.clear();
    weights_.clear();
  }

 private:
  std::map<std::string, double> sums_, weights_;
};

// " | GPU Mem X MB" where the device reports its memory.
std::string DeviceMemoryText(const std::optional<double>& peak_mb) {
  if (!peak_mb) return "";
  return absl::StrFormat(" | GPU Mem %.0f MB", *peak_mb);
}

}  // namespace

double PeakRssMb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
    }
  }
  return 0;
}

Trainer::Trainer(TrainerOptions options, TrainerParts parts)
    : options_(std::move(options)), parts_(parts) {
  TORCH_CHECK(parts_.task != nullptr, "Trainer needs a task");
  TORCH_CHECK(parts_.log != nullptr, "Trainer needs a run log");
  TORCH_CHECK(parts_.collectives != nullptr, "Trainer needs collectives");
  TORCH_CHECK(options_.gradient_accumulation_steps >= 1);
  if (parts_.optimizer != nullptr) {
    GradientSyncOptions sync;
    sync.bucket_bytes = options_.bucket_bytes;
    sync.comms_dtype = options_.comms_dtype;
    sync.find_unused_parameters = options_.find_unused_parameters;
    sync.overlap = options_.overlap_gradient_sync;
    sync_ = std::make_unique<GradientSync>(parts_.optimizer->NamedParameters(),
                                           sync);
  }
}

Trainer::~Trainer() = default;

std::vector<std::pair<std::string, at::Tensor>>
TrainOptimizer::NamedParameters() {
  std::vector<std::pair<std::string, at::Tensor>> named;
  for (at::Tensor& p : Parameters()) {
    named.emplace_back(absl::StrCat("parameter ", named.size()), p);
  }
  return named;
}

absl::Status Trainer::Run() {
  process_start_ = Now();
  SAM2_RETURN_IF_ERROR(MaybeResume());
  SAM2_RETURN_IF_ERROR(StartWorld());
  // The start-up bound (a missing rank shows there) gives way to training's.
  if (options_.collective_timeout_s) {
    parts_.collectives->SetTimeoutSeconds(*options_.collective_timeout_s);
  }
  elapsed_at_start_ = state_.time_elapsed;
  if (!options_.best_meter.empty()) {
    // A restarted run keeps the best of the runs before it.
    best_value_ =
        parts_.log->LastStatsValue(kBestStatsName, options_.best_meter);
    if (best_value_) {
      parts_.log->Info(absl::StrCat("Best ", options_.best_meter, " so far: ",
                                    *best_value_, " (", kBestStatsName, ")"));
    }
  }
  if (options_.mode == config::TrainerMode::kVal) return ValEpoch(state_.epoch);
  if (parts_.optimizer == nullptr || parts_.train_data == nullptr) {
    return absl::FailedPreconditionError(
        "training needs an optimizer and training data");
  }
  // As the reference's run(): a job preempted during the validation that
  // follows an epoch's checkpoint runs that validation again first.
  if (ValInterruptedBeforeResume()) {
    parts_.log->Info(absl::StrCat(
        "Running the interrupted validation of epoch ", state_.epoch - 1));
    SAM2_RETURN_IF_ERROR(ValEpoch(state_.epoch - 1));
  }
  while (state_.epoch < options_.max_epochs) {
    SAM2_RETURN_IF_ERROR(TrainEpoch());
    if (stopped_) return absl::OkStatus();
    const int64_t finished = state_.epoch;
    state_.epoch += 1;
    state_.next_batch = 0;
    // Saved before validating, as the reference: a preempted validation
    // costs the validation only.
    SAM2_RETURN_IF_ERROR(SaveCheckpoint(/*end_of_epoch=*/true));
    if (stop_agreed_ && state_.epoch < options_.max_epochs) {
      // Stopped on the epoch's last step: the epoch is complete and saved;
      // its validation (if any) runs first on resume.
      preempted_ = true;
      parts_.log->Info(absl::StrCat("Stopping after epoch ", finished, " (",
                                    stop_reason_, "); checkpoint saved"));
      return absl::OkStatus();
    }
    if (IsIntermediateValEpoch(finished)) {
      SAM2_RETURN_IF_ERROR(ValEpoch(finished));
    }
  }
  if (options_.mode == config::TrainerMode::kTrain) {
    return ValEpoch(options_.max_epochs - 1);
  }
  return absl::OkStatus();
}

bool Trainer::IsIntermediateValEpoch(int64_t epoch) const {
  return options_.mode == config::TrainerMode::kTrain &&
         epoch % options_.val_epoch_freq == 0 &&
         epoch < options_.max_epochs - 1;
}

bool Trainer::ValInterruptedBeforeResume() const {
  const int64_t previous = state_.epoch - 1;
  if (!resumed_ || !HasValidation() || state_.next_batch != 0 || previous < 0 ||
      !IsIntermediateValEpoch(previous)) {
    return false;
  }
  // A validation that finished appended its line (carrying its epoch) to
  // val_stats.json; the reference reruns it unconditionally.
  const std::optional<double> last =
      parts_.log->LastStatsValue("val_stats.json", "Trainer/epoch");
  return !last.has_value() || *last < static_cast<double>(previous);
}

absl::StatusOr<std::optional<std::string>> ResumeCheckpointPath(
    const std::string& checkpoint_dir, const std::string& resume_from) {
  std::error_code ec;
  if (!checkpoint_dir.empty()) {
    const std::string own = checkpoint_dir + "/checkpoint.pt";
    if (std::filesystem::is_regular_file(own, ec)) return own;
  }
  if (resume_from.empty()) return std::nullopt;
  if (!std::filesystem::is_regular_file(resume_from, ec)) {
    return absl::NotFoundError(absl::StrCat(
        "checkpoint.resume_from: ", resume_from, " does not exist"));
  }
  return resume_from;
}

absl::Status Trainer::MaybeResume() {
  if (parts_.checkpoints == nullptr) return absl::OkStatus();
  SAM2_ASSIGN_OR_RETURN(
      std::optional<std::string> resume,
      ResumeCheckpointPath(options_.checkpoint_dir, options_.resume_from));
  if (!resume) return absl::OkStatus();
  const std::string& path = *resume;
  absl::StatusOr<TrainerCheckpoint> loaded = base::CallCatchingTorchErrors(
      "", [&] { return parts_.checkpoints->Load(path); });
  if (!loaded.ok()) {
    // Name the file once: the store's own messages usually start with it.
    const bool named = absl::StartsWith(loaded.status().message(), path);
    return base::Annotate(loaded.status(),
                          named ? "cannot resume from"
                                : absl::StrCat("cannot resume from ", path));
  }
  TrainerCheckpoint checkpoint = *std::move(loaded);
  SAM2_RETURN_IF_ERROR(CheckResumedWorld(checkpoint, path));
  SAM2_RETURN_IF_ERROR(LoadModelState(parts_.task->model(), checkpoint.model,
                                      options_.skip_saving_parameters, path));
  if (parts_.optimizer != nullptr) {
    SAM2_RETURN_IF_ERROR_CONTEXT(
        parts_.optimizer->LoadState(checkpoint.optimizer),
        "optimizer state in ", path);
  }
  state_ = static_cast<const TrainProgress&>(checkpoint);
  if (parts_.grad_scaler != nullptr && state_.loss_scale > 0) {
    parts_.grad_scaler->Restore(state_.loss_scale,
                                state_.loss_scale_growth_tracker);
  }
  resumed_ = true;
  parts_.log->Info(absl::StrCat("Resuming from ", path, " at epoch ",
                                state_.epoch, ", batch ", state_.next_batch,
                                ", step ", state_.step));
  return absl::OkStatus();
}

absl::Status Trainer::CheckResumedWorld(TrainerCheckpoint& checkpoint,
                                        const std::string& path) {
  const int64_t world = parts_.collectives->world_size();
  const int64_t a = options_.gradient_accumulation_steps;
  if (checkpoint.world_size <= 0 ||
      checkpoint.gradient_accumulation_steps <= 0) {
    return absl::OkStatus();  // written before the world was recorded
  }
  const int64_t saved_slots =
      checkpoint.world_size * checkpoint.gradient_accumulation_steps;
  const std::string saved = absl::StrCat(checkpoint.world_size, " rank(s) x ",
                                         checkpoint.gradient_accumulation_steps,
                                         " accumulation step(s)");
  const std::string now =
      absl::StrCat(world, " rank(s) x ", a, " accumulation step(s)");
  if (saved_slots == total_slots()) {
    if (checkpoint.world_size != world) {
      parts_.log->Info(absl::StrCat(path, " was written by ", saved,
                                    "; continuing on ", now, ": the same ",
                                    saved_slots,
                                    " micro-batch slots per step, so the "
                                    "same trajectory"));
    }
    return absl::OkStatus();
  }
  const std::string change = absl::StrCat(
      path, " was written by ", saved, " (", saved_slots,
      " micro-batch slots per step",
      checkpoint.global_batch > 0
          ? absl::StrCat(", a global batch of ", checkpoint.global_batch)
          : "",
      "), this run has ", now, " (", total_slots(),
      " slots): the global batch, and with it the learning dynamics and "
      "the position in the epoch, would change");
  if (!options_.allow_global_batch_change) {
    return absl::FailedPreconditionError(absl::StrCat(
        change, ". Keep ranks x optim.gradient_accumulation_steps = ",
        saved_slots, ", or set checkpoint.allow_global_batch_change: true"));
  }
  // The same fraction of the epoch: steps of the old size taken, in steps
  // of the new size (rounded down; the new slots shard the epoch anew).
  const int64_t next_batch =
      checkpoint.next_batch * saved_slots / total_slots();
  parts_.log->Warning(absl::StrCat(
      change, " (allowed by checkpoint.allow_global_batch_change); position ",
      "in epoch ", checkpoint.epoch, ": step ", checkpoint.next_batch, " of ",
      saved_slots, " slots -> step ", next_batch, " of ", total_slots()));
  checkpoint.next_batch = next_batch;
  return absl::OkStatus();
}

absl::Status Trainer::StartWorld() {
  distributed::Collectives& world = *parts_.collectives;
  if (world.world_size() == 1) return absl::OkStatus();
  torch::nn::Module& model = parts_.task->model();
  std::string parameters;
  for (const auto& [name, tensor] : checkpoint::ModelStateDict(model)) {
    absl::StrAppend(&parameters, name, " ", c10::toString(tensor.scalar_type()),
                    " [", absl::StrJoin(tensor.sizes(), ","), "]\n");
  }
  std::vector<distributed::AgreementItem> items;
  for (const auto& [what, value] : options_.agreement) {
    items.push_back({what, value});
  }
  items.push_back(
      {"model parameters and buffers (names, types, shapes)", parameters});
  items.push_back({"resume position",
                   absl::StrCat("epoch ", state_.epoch, ", batch ",
                                state_.next_batch, ", step ", state_.step)});
  if (parts_.train_data != nullptr) {
    items.push_back({"training batches per epoch",
                     absl::StrCat(parts_.train_data->batches_per_epoch())});
  }
  if (parts_.val_data != nullptr) {
    items.push_back({"validation batches per epoch",
                     absl::StrCat(parts_.val_data->batches_per_epoch())});
  }
  SAM2_RETURN_IF_ERROR(distributed::AgreeAcrossRanks(world, items));
  // As DDP: every rank starts from rank 0's parameters and buffers.
  c10::NoGradGuard no_grad;
  for (auto& [name, tensor] : checkpoint::ModelStateDict(model)) {
    at::Tensor t = tensor;
    world.Broadcast(t, 0);
  }
  parts_.log->Info(absl::StrCat(
      "Ranks agree on the config, the model, the resume position and the "
      "data; ",
      world.world_size(), " x ", options_.gradient_accumulation_steps, " = ",
      total_slots(), " micro-batch slots per step"));
  return absl::OkStatus();
}

absl::Status Trainer::TrainEpoch() {
  BatchSource& data = *parts_.train_data;
  if (absl::Status s =
          data.Start(state_.epoch,
                     state_.next_batch * options_.gradient_accumulation_steps);
      !s.ok()) {
    return s;
  }
  SAM2_ASSIGN_OR_RETURN(const int64_t steps,
                        StepsPerEpoch(data.batches_per_epoch()));
  if (steps <= 0) {
    return absl::FailedPreconditionError(
        "the training data yields no batch: check the dataset and batch size "
        "(with drop_last, a dataset needs at least batch_size videos per "
        "rank)");
  }
  parts_.task->model().train();
  epoch_loss_sums_.clear();
  epoch_loss_steps_ = 0;
  while (true) {
    absl::StatusOr<bool> more = TrainStep(steps);
    if (!more.ok()) return more.status();
    if (!*more || stopped_) break;
  }
  if (stopped_) return absl::OkStatus();
  // Averages over the steps this process ran in the epoch (after a mid-epoch
  // resume: the steps since the resume).
  std::map<std::string, double> stats;
  for (const auto& [name, sum] : epoch_loss_sums_) {
    stats["Losses/train_all_" + name] =
        sum / std::max<int64_t>(1, epoch_loss_steps_);
  }
  stats["Trainer/epoch"] = static_cast<double>(state_.epoch);
  stats["Trainer/steps_train"] = static_cast<double>(state_.step);
  stats["Trainer/nonfinite_skipped"] =
      static_cast<double>(state_.nonfinite_skipped);
  for (const auto& [name, v] : parts_.train_data->Counters()) {
    stats["Data/" + name] = v;
  }
  last_train_stats_ = stats;
  parts_.log->Info(absl::StrFormat(
      "Train epoch %d done: mean core_loss %.4e over %d steps", state_.epoch,
      stats["Losses/train_all_core_loss"], epoch_loss_steps_));
  return parts_.log->AppendStats("train_stats.json", stats);
}

struct Trainer::StepWork {
  int64_t first_batch = 0;  // the step's index within its epoch
  std::vector<data::BatchedVideoDatapoint> batches;  // one per local slot
  double data_seconds = 0, compute_seconds = 0, sync_seconds = 0;
  int64_t samples = 0;     // videos (or images) in this rank's batches
  bool finite = true;      // every local slot's loss
  bool all_finite = true;  // every slot's of every rank
  std::string culprit;
  std::map<std::string, double> loss_values;  // mean over the local slots
  double grad_norm = NAN;
  double where = 0;
  // This rank's slot sums; with `overlapped`, the last slot's sync is still
  // running (GradientSync::FinishLastSlot completes it).
  std::unique_ptr<SlotGradients> slots;
  bool overlapped = false;
};

int64_t Trainer::total_slots() const {
  return static_cast<int64_t>(parts_.collectives->world_size()) *
         options_.gradient_accumulation_steps;
}

absl::StatusOr<int64_t> Trainer::StepsPerEpoch(int64_t batches) const {
  const int64_t a = options_.gradient_accumulation_steps;
  if (batches % a != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the training data delivers ", batches, " batches per epoch on rank ",
        parts_.collectives->rank(), ", not a multiple of the ", a,
        " micro-batch slots of a step (gradient_accumulation_steps)"));
  }
  return batches / a;
}

absl::StatusOr<bool> Trainer::LoadStepBatches(StepWork& work) {
  const int64_t a = options_.gradient_accumulation_steps;
  work.batches.clear();
  for (int64_t k = 0; k < a; ++k) {
    const double t0 = Now();
    absl::StatusOr<std::optional<data::BatchedVideoDatapoint>> batch =
        parts_.train_data->Next();
    work.data_seconds += Now() - t0;
    if (!batch.ok()) return batch.status();
    if (!batch->has_value()) {
      if (k == 0) return false;
      return absl::InternalError(
          absl::StrCat("the training data ended in the middle of step ",
                       state_.step + 1, " (", k, " of ", a, " micro-batches)"));
    }
    work.samples += (*batch)->num_videos();
    work.batches.push_back(std::move(**batch));
  }
  return true;
}

absl::Status Trainer::GatherGradients(StepWork& work) {
  distributed::Collectives& world = *parts_.collectives;
  const int64_t a = options_.gradient_accumulation_steps;
  const double t0 = Now();
  // The loss's num_objects: the mean over every slot of the step (the
  // reference averages it over ranks), at least 1.
  {
    double local = 0;
    for (const auto& batch : work.batches) {
      local += parts_.task->LocalNumObjects(batch);
    }
    std::vector<at::Tensor> total = {at::full({1}, local, at::kDouble)};
    world.AllReduceSum(total);
    parts_.task->SetNumObjects(std::max(
        1.0, total[0].item<double>() / static_cast<double>(total_slots())));
  }
  parts_.optimizer->ZeroGrad();
  work.slots = std::make_unique<SlotGradients>(parts_.optimizer->Parameters());
  SlotGradients& slots = *work.slots;
  const bool overlap = sync_->Overlaps(world);
  const double loss_scale =
      parts_.grad_scaler != nullptr ? parts_.grad_scaler->scale() : 1.0;
  for (int64_t k = 0; k < a; ++k) {
    const int64_t slot = world.rank() * a + k;
    SeedTorch(SlotSeed(options_.seed_value, state_.epoch, state_.step, slot,
                       SeedStream::kTorch));
    parts_.task->SeedStep(SlotSeed(options_.seed_value, state_.epoch,
                                   state_.step, slot, SeedStream::kPrompts));
    const data::BatchedVideoDatapoint& batch =
        work.batches[static_cast<size_t>(k)];
    // The last slot's gradients are synchronised while its backward pass
    // runs, bucket by bucket.
    const bool overlapped_slot = overlap && k == a - 1;
    if (overlapped_slot) {
      sync_->BeginLastSlot(world, total_slots(), &slots);
      work.overlapped = true;
    }
    // LibTorch's exceptions (shape errors, out of memory) end the run as a
    // Status naming the step, never as an uncaught exception.
    const std::string where_text =
        absl::StrCat("step ", state_.step + 1, " (epoch ", state_.epoch,
                     ", batch ", work.first_batch, ", slot ", slot, ")");
    SAM2_ASSIGN_OR_RETURN(LossDict losses,
                          base::CallCatchingTorchErrors(where_text, [&] {
                            return parts_.task->Forward(batch);
                          }));
    auto core = losses.find(kCoreLoss);
    if (core == losses.end()) {
      return absl::InternalError("the task returned no core_loss");
    }
    const double core_value = core->second.item<double>();
    if (std::isfinite(core_value)) {
      // Slots are summed unscaled and averaged once after the sync, so that
      // the sum does not depend on how slots are spread over ranks.
      SAM2_RETURN_IF_ERROR(base::CallCatchingTorchErrors(
          absl::StrCat(where_text, ", backward"), [&] {
            if (loss_scale == 1.0) {
              core->second.backward();
            } else {
              (core->second * loss_scale).backward();
            }
          }));
    } else if (work.finite) {
      work.finite = false;
      work.culprit = VideoIds(batch);
    }
    if (!overlapped_slot) slots.AddSlot();
    for (const auto& [name, value] : losses) {
      work.loss_values[name] += value.item<double>() / static_cast<double>(a);
    }
  }
  if (!overlap) slots.Finish();
  work.batches.clear();  // frees the inputs before the update
  work.compute_seconds += Now() - t0;
  return absl::OkStatus();
}

absl::Status Trainer::ApplyUpdate(StepWork& work, int64_t steps_per_epoch) {
  distributed::Collectives& world = *parts_.collectives;
  TrainOptimizer& optimizer = *parts_.optimizer;
  const double t0 = Now();
  // Every rank must take the same decisions, or the collectives deadlock:
  // whether every loss was finite, and whether any rank was asked to stop
  // (preemption signal, wall time).
  std::string reason;
  const int stop = LocalStopRequest(&reason);
  at::Tensor votes = at::zeros({2}, at::kDouble);
  votes[0] = work.finite ? 0.0 : 1.0;
  votes[1] = stop != 0 ? 1.0 : 0.0;
  std::vector<at::Tensor> flag = {votes};
  world.AllReduceSum(flag);
  work.all_finite = votes[0].item<double>() == 0.0;
  if (votes[1].item<double>() > 0 && !stop_agreed_) {
    stop_agreed_ = true;
    stop_reason_ = stop != 0 ? reason : "a stop request on another rank";
  }
  if (work.overlapped) {
    // Completed on every rank (each issued its buckets), applied only when
    // the step is taken.
    SAM2_RETURN_IF_ERROR(base::CallCatchingTorchErrors(
        absl::StrCat("step ", state_.step + 1, ", gradient sync"), [&] {
          return sync_->FinishLastSlot(state_.step + 1, work.all_finite);
        }));
    work.sync_seconds = sync_->last_sync_seconds();
  }
  work.where = (static_cast<double>(state_.epoch) +
                static_cast<double>(work.first_batch) / steps_per_epoch) /
               static_cast<double>(options_.max_epochs);
  if (!work.all_finite) {
    optimizer.ZeroGrad();
    ++state_.nonfinite_skipped;
    ++consecutive_nonfinite_;
    parts_.log->Warning(absl::StrCat(
        "non-finite loss at step ", state_.step, " (epoch ", state_.epoch,
        ", batch ", work.first_batch, ", videos ",
        work.culprit.empty() ? "on another rank" : work.culprit,
        "): update skipped on every rank (", consecutive_nonfinite_,
        " in a row, ", state_.nonfinite_skipped, " in total)"));
    if (consecutive_nonfinite_ >= options_.max_consecutive_nonfinite_losses) {
      return absl::AbortedError(absl::StrCat(
          consecutive_nonfinite_,
          " non-finite losses in a row: training diverged (raise "
          "trainer.max_consecutive_nonfinite_losses to tolerate more)"));
    }
  } else {
    consecutive_nonfinite_ = 0;
    if (!work.overlapped) {
      SAM2_RETURN_IF_ERROR(base::CallCatchingTorchErrors(
          absl::StrCat("step ", state_.step + 1, ", gradient sync"), [&] {
            return sync_->Average(world, total_slots(), state_.step + 1);
          }));
      work.sync_seconds = sync_->last_sync_seconds();
    }
    // As the reference: no schedule update once training is at its end.
    if (work.where < 1.0) optimizer.SetProgress(work.where);
    optim::GradScaler* scaler = parts_.grad_scaler;
    // Ranks hold the same averaged gradients, so they agree on overflow.
    const bool overflow =
        scaler != nullptr && scaler->UnscaleAndCheck(optimizer.Parameters());
    if (overflow) {
      optimizer.ZeroGrad();
      parts_.log->Warning(absl::StrFormat(
          "gradient overflow at step %d: update skipped, loss scale %g -> %g",
          state_.step, scaler->scale(), scaler->scale() * 0.5));
    } else {
      work.grad_norm = optimizer.ClipGradients();
      optimizer.Step();
    }
    if (scaler != nullptr) scaler->Update(overflow);
  }
  work.compute_seconds += Now() - t0;
  state_.step += 1;
  state_.next_batch = work.first_batch + 1;
  ++steps_this_process_;
  state_.time_elapsed = elapsed_at_start_ + (Now() - process_start_);
  return absl::OkStatus();
}

absl::StatusOr<bool> Trainer::TrainStep(int64_t steps_per_epoch) {
  if (state_.next_batch >= steps_per_epoch) return false;
  StepWork work;
  work.first_batch = state_.next_batch;
  SAM2_ASSIGN_OR_RETURN(const bool more, LoadStepBatches(work));
  if (!more) return false;
  SAM2_RETURN_IF_ERROR(GatherGradients(work));
  SAM2_RETURN_IF_ERROR(ApplyUpdate(work, steps_per_epoch));
  SAM2_RETURN_IF_ERROR(Report(work, steps_per_epoch));
  return true;
}

absl::Status Trainer::Report(StepWork& work, int64_t steps_per_epoch) {
  distributed::Collectives& world = *parts_.collectives;
  // Logged losses are the mean over every rank's slots (the reference logs
  // rank 0's).
  std::map<std::string, double>& loss_values = work.loss_values;
  std::vector<at::Tensor> values;
  for (const auto& [name, v] : loss_values) {
    values.push_back(at::full({1}, v, at::kDouble));
  }
  world.AllReduceMean(values);
  size_t i = 0;
  for (auto& [name, v] : loss_values) v = values[i++].item<double>();
  step_losses_.push_back(loss_values[kCoreLoss]);
  if (work.all_finite) {
    for (const auto& [name, v] : loss_values) epoch_loss_sums_[name] += v;
    ++epoch_loss_steps_;
  }

  // As the reference's memory meter: this step's peak, then a fresh peak.
  std::optional<double> device_peak_mb;
  if (parts_.device_memory_mb) device_peak_mb = parts_.device_memory_mb(true);
  const double step_seconds = work.compute_seconds + work.data_seconds;
  const int64_t global_samples =
      work.samples * static_cast<int64_t>(world.world_size());

  if (state_.step % options_.log_freq == 0 || state_.step == 1) {
    const int64_t total = options_.max_epochs * steps_per_epoch;
    const int64_t done = state_.epoch * steps_per_epoch + state_.next_batch;
    const double per_step =
        (Now() - process_start_) / std::max<int64_t>(1, steps_this_process_);
    parts_.log->Info(absl::StrFormat(
        "Train Epoch: [%d][%d/%d] step %d | Batch Time %.2fs | Data Time "
        "%.2fs | Sync %.2fs | Samples/s %.2f | Mem %.0f MB%s | Loss %.4e | "
        "Grad norm %.3g | ETA %s",
        state_.epoch, state_.next_batch, steps_per_epoch, state_.step,
        step_seconds, work.data_seconds, work.sync_seconds,
        global_samples / std::max(1e-9, step_seconds), PeakRssMb(),
        DeviceMemoryText(device_peak_mb), loss_values[kCoreLoss],
        work.grad_norm,
        FormatDuration(per_step * static_cast<double>(total - done))));
  }
  if (parts_.scalars != nullptr &&
      (state_.step % options_.log_scalar_frequency == 0 || state_.step == 1)) {
    std::map<std::string, double> scalars;
    for (const auto& [name, v] : loss_values) {
      scalars["Losses/train_all_" + name] = v;
    }
    for (const auto& [name, v] : parts_.optimizer->HyperParameters()) {
      scalars["Optim/" + name] = v;
    }
    scalars["Optim/grad_norm"] = work.grad_norm;
    scalars["Step_Stats/train/Batch Time"] = step_seconds;
    scalars["Step_Stats/train/Data Time"] = work.data_seconds;
    scalars["Step_Stats/train/Sync Time"] = work.sync_seconds;
    scalars["Step_Stats/train/Samples per s"] =
        global_samples / std::max(1e-9, step_seconds);
    scalars["Step_Stats/train/Mem (MB)"] = PeakRssMb();
    if (device_peak_mb) {
      scalars["Step_Stats/train/GPU Mem (MB)"] = *device_peak_mb;
    }
    scalars["Trainer/where"] = work.where;
    scalars["Trainer/epoch"] = static_cast<double>(state_.epoch);
    for (const auto& [name, v] : parts_.train_data->Counters()) {
      scalars["Data/" + name] = v;
    }
    LogScalars(scalars, state_.step);
  }
  if (options_.save_every_steps > 0 &&
      state_.step % options_.save_every_steps == 0) {
    SAM2_RETURN_IF_ERROR(SaveCheckpoint(/*end_of_epoch=*/false));
  }
  if (options_.stop_after_steps > 0 &&
      steps_this_process_ >= options_.stop_after_steps) {
    stopped_ = true;
  }
  // A stop mid-epoch checkpoints here; on the epoch's last step the epoch
  // ends first (its stats and end-of-epoch checkpoint, see Run).
  if (stop_agreed_ && !stopped_ && state_.next_batch < steps_per_epoch) {
    parts_.log->Info(absl::StrCat("Stopping at step ", state_.step, " (",
                                  stop_reason_, "): checkpointing"));
    SAM2_RETURN_IF_ERROR(SaveCheckpoint(/*end_of_epoch=*/false));
    stopped_ = true;
    preempted_ = true;
  }
  return absl::OkStatus();
}

int Trainer::LocalStopRequest(std::string* reason) const {
  if (parts_.stop_requested) {
    if (const int signal = parts_.stop_requested(); signal != 0) {
      *reason = absl::StrCat("signal ", signal, " (", strsignal(signal), ")");
      return signal;
    }
  }
  if (options_.exit_after_seconds > 0 &&
      Now() - process_start_ >= options_.exit_after_seconds) {
    *reason = absl::StrFormat("trainer.exit_after_minutes (%.1f min)",
                              options_.exit_after_seconds / 60);
    return -1;
  }
  return 0;
}

absl::Status Trainer::ValEpoch(int64_t epoch) {
  // mode "train" without a validation trains and skips it.
  if (!HasValidation()) return absl::OkStatus();
  torch::nn::Module& model = parts_.task->model();
  std::map<std::string, double> means;
  int64_t batches = 0;
  if (parts_.val_data != nullptr) {
    SAM2_RETURN_IF_ERROR(ValLosses(epoch, means, &batches));
  }
  std::map<std::string, double> meters;
  if (parts_.validator != nullptr) {
    model.eval();
    SAM2_ASSIGN_OR_RETURN(
        meters, base::CallCatchingTorchErrors(
                    absl::StrCat("validation of epoch ", epoch),
                    [&] { return parts_.validator->Validate(epoch); }));
    model.train();
    for (const auto& [name, v] : meters) means[name] = v;
  }
  means["Trainer/epoch"] = static_cast<double>(epoch);
  means["Trainer/steps_val"] = static_cast<double>(state_.val_step);
  last_val_stats_ = means;
  std::string line = absl::StrCat("Val epoch ", epoch);
  if (parts_.val_data != nullptr) {
    absl::StrAppend(&line, " (", batches, " batches): core_loss ",
                    means["Losses/val_all_core_loss"]);
  }
  for (const auto& [name, v] : meters) {
    absl::StrAppendFormat(&line, " | %s %.2f", name, v);
  }
  parts_.log->Info(line);
  // As the reference's logger.log_dict(outs, self.epoch): epoch-level
  // validation scalars are logged at the epoch number.
  LogScalars(means, epoch);
  // Before the stats line: a job stopped in between reruns this validation
  // (no line for it yet), which then finds the same value, not a better one.
  SAM2_RETURN_IF_ERROR(MaybeSaveBest(means));
  return parts_.log->AppendStats("val_stats.json", means);
}

absl::Status Trainer::ValLosses(int64_t epoch,
                                std::map<std::string, double>& means,
                                int64_t* batches_out) {
  torch::nn::Module& model = parts_.task->model();
  model.eval();
  c10::NoGradGuard no_grad;
  SAM2_RETURN_IF_ERROR(parts_.val_data->Start(epoch, 0));
  Averages averages;
  int64_t batches = 0;
  while (true) {
    // Validation draws from its own seeds so it never shifts training's.
    const uint64_t seed =
        MixSeed({static_cast<uint64_t>(options_.seed_value), 0x7661ULL,
                 static_cast<uint64_t>(state_.val_step)});
    SeedTorch(seed);
    parts_.task->SeedStep(seed);
    absl::StatusOr<std::optional<data::BatchedVideoDatapoint>> batch =
        parts_.val_data->Next();
    if (!batch.ok()) return batch.status();
    if (!batch->has_value()) break;
    // num_objects averaged over the ranks' batches, as the reference's loss.
    std::vector<at::Tensor> objects = {
        at::full({1}, parts_.task->LocalNumObjects(**batch), at::kDouble)};
    parts_.collectives->AllReduceMean(objects);
    parts_.task->SetNumObjects(std::max(1.0, objects[0].item<double>()));
    SAM2_ASSIGN_OR_RETURN(
        LossDict losses,
        base::CallCatchingTorchErrors(
            absl::StrCat("validation of epoch ", epoch, ", batch ", batches),
            [&] { return parts_.task->Forward(**batch); }));
    std::map<std::string, double> values;
    for (const auto& [name, v] : losses) {
      values["Losses/val_all_" + name] = v.item<double>();
    }
    averages.Add(values, static_cast<double>((*batch)->num_videos()));
    ++state_.val_step;
    ++batches;
  }
  model.train();
  std::map<std::string, double> losses = averages.Means();
  std::vector<at::Tensor> values;
  for (const auto& [name, v] : losses) {
    values.push_back(at::full({1}, v, at::kDouble));
  }
  parts_.collectives->AllReduceMean(values);
  size_t i = 0;
  for (auto& [name, v] : losses) means[name] = values[i++].item<double>();
  *batches_out = batches;
  return absl::OkStatus();
}

absl::Status Trainer::MaybeSaveBest(
    const std::map<std::string, double>& stats) {
  if (options_.best_meter.empty() ||
      options_.mode == config::TrainerMode::kVal) {
    return absl::OkStatus();
  }
  auto it = stats.find(options_.best_meter);
  if (it == stats.end() || !std::isfinite(it->second)) {
    if (!warned_missing_best_meter_) {
      std::vector<std::string> names;
      for (const auto& entry : stats) names.push_back(entry.first);
      parts_.log->Warning(absl::StrCat(
          "checkpoint.save_best_meter: ", options_.best_meter,
          it == stats.end() ? " is not among the validation's stats ("
                            : " is not finite (stats: ",
          absl::StrJoin(names, ", "), "): no best checkpoint is kept"));
      warned_missing_best_meter_ = true;
    }
    return absl::OkStatus();
  }
  const double value = it->second;
  // Ties keep the earlier checkpoint, as the reference's strict is_better.
  const bool better = !best_value_.has_value() ||
                      (options_.best_higher_is_better ? value > *best_value_
                                                      : value < *best_value_);
  const int64_t epoch = static_cast<int64_t>(stats.at("Trainer/epoch"));
  if (!better) {
    parts_.log->Info(absl::StrFormat("%s %.4f after epoch %d; the best is %.4f",
                                     options_.best_meter, value, epoch,
                                     *best_value_));
    return absl::OkStatus();
  }
  const std::optional<double> previous = best_value_;
  best_value_ = value;
  absl::Status status = absl::OkStatus();
  if (parts_.collectives->is_main()) {
    // The checkpoint first: best_stats.json never names a value whose
    // checkpoint was not written.
    if (parts_.checkpoints != nullptr && !options_.checkpoint_dir.empty()) {
      status = SaveCheckpointTo(
          absl::StrCat(options_.checkpoint_dir, "/", kBestCheckpointName));
    }
    if (status.ok() && !parts_.log->log_dir().empty()) {
      status = WriteStringAtomically(
          absl::StrCat(parts_.log->log_dir(), "/", kBestStatsName),
          RunLog::StatsLine(stats));
    }
    if (status.ok()) {
      parts_.log->Info(absl::StrFormat(
          "New best %s %.4f after epoch %d (previous %s): %s and %s",
          options_.best_meter, value, epoch,
          previous ? absl::StrFormat("%.4f", *previous) : "none",
          kBestCheckpointName, kBestStatsName));
    }
  }
  parts_.collectives->Barrier();
  return status;
}

void Trainer::LogScalars(const std::map<std::string, double>& values,
                         int64_t step) {
  if (parts_.scalars == nullptr || !parts_.collectives->is_main()) return;
  for (const auto& [tag, v] : values) parts_.scalars->AddScalar(tag, v, step);
  parts_.scalars->Flush();
}

absl::Status Trainer::SaveCheckpoint(bool end_of_epoch) {
  if (parts_.checkpoints == nullptr || options_.checkpoint_dir.empty()) {
    return absl::OkStatus();
  }
  // Rank 0 writes; the others wait so that nobody races ahead and reads a
  // half-written file on a later resume.
  absl::Status status = absl::OkStatus();
  if (parts_.collectives->is_main()) {
    status = SaveCheckpointTo(options_.checkpoint_dir + "/checkpoint.pt");
    const int64_t epoch = state_.epoch;
    const bool numbered =
        end_of_epoch &&
        ((options_.save_freq > 0 && epoch % options_.save_freq == 0) ||
         std::find(options_.save_list.begin(), options_.save_list.end(),
                   epoch) != options_.save_list.end());
    if (status.ok() && numbered) {
      status = SaveCheckpointTo(
          absl::StrCat(options_.checkpoint_dir, "/checkpoint_", epoch, ".pt"));
    }
  }
  parts_.collectives->Barrier();
  return status;
}

absl::Status Trainer::SaveCheckpointTo(const std::string& path) {
  TrainerCheckpoint checkpoint;
  static_cast<TrainProgress&>(checkpoint) = state_;
  checkpoint.world_size = parts_.collectives->world_size();
  checkpoint.gradient_accumulation_steps = options_.gradient_accumulation_steps;
  checkpoint.global_batch = total_slots() * options_.micro_batch_size;
  checkpoint.model =
      ModelState(parts_.task->model(), options_.skip_saving_parameters);
  if (parts_.grad_scaler != nullptr) {
    checkpoint.loss_scale = parts_.grad_scaler->scale();
    checkpoint.loss_scale_growth_tracker = parts_.grad_scaler->growth_tracker();
  }
  if (parts_.optimizer != nullptr) {
    checkpoint.optimizer = parts_.optimizer->State();
  }
  const double t0 = Now();
  absl::Status status = WriteFileAtomically(path, [&](const std::string& temp) {
    return parts_.checkpoints->Save(temp, checkpoint);
  });
  if (status.ok()) {
    parts_.log->Info(absl::StrFormat(
        "Saved %s (epoch %d, batch %d, step %d) "
        "in %.1fs",
        path, state_.epoch, state_.next_batch, state_.step, Now() - t0));
  }
  return status;
}

absl::StatusOr<BenchmarkResult> Trainer::Benchmark(
    int64_t steps, const std::function<void()>& before_steady_steps) {
  if (parts_.optimizer == nullptr || parts_.train_data == nullptr) {
    return absl::FailedPreconditionError(
        "the benchmark needs an optimizer and training data");
  }
  BatchSource& data = *parts_.train_data;
  process_start_ = Now();
  SAM2_RETURN_IF_ERROR(StartWorld());
  state_ = TrainProgress();
  SAM2_RETURN_IF_ERROR(data.Start(0, 0));
  SAM2_ASSIGN_OR_RETURN(int64_t steps_per_epoch,
                        StepsPerEpoch(data.batches_per_epoch()));
  if (steps_per_epoch <= 0) {
    return absl::FailedPreconditionError("the training data is empty");
  }
  parts_.task->model().train();
  BenchmarkResult result;
  for (int64_t i = 0; i < steps; ++i) {
    if (state_.next_batch >= steps_per_epoch) {
      state_.epoch += 1;
      state_.next_batch = 0;
      SAM2_RETURN_IF_ERROR(data.Start(state_.epoch, 0));
      SAM2_ASSIGN_OR_RETURN(steps_per_epoch,
                            StepsPerEpoch(data.batches_per_epoch()));
    }
    if (before_steady_steps && i == std::min<int64_t>(1, steps - 1)) {
      before_steady_steps();
    }
    // The same step as training, without its reports.
    StepWork work;
    work.first_batch = state_.next_batch;
    SAM2_ASSIGN_OR_RETURN(const bool more, LoadStepBatches(work));
    if (!more) return absl::InternalError("the training data ended early");
    if (parts_.synchronize_device) parts_.synchronize_device();
    const double t1 = Now();
    SAM2_RETURN_IF_ERROR(GatherGradients(work));
    SAM2_RETURN_IF_ERROR(ApplyUpdate(work, steps_per_epoch));
    if (parts_.synchronize_device) parts_.synchronize_device();
    const double t2 = Now();
    if (parts_.device_memory_mb) {
      if (std::optional<double> mb = parts_.device_memory_mb(true)) {
        result.peak_device_mb =
            std::max(result.peak_device_mb.value_or(0), *mb);
      }
    }
    result.data_seconds.push_back(work.data_seconds);
    result.step_seconds.push_back(t2 - t1);
    result.sync_seconds.push_back(work.sync_seconds);
    parts_.log->Info(absl::StrFormat(
        "benchmark step %d/%d: %.3fs (data %.3fs, gradient sync %.3fs)", i + 1,
        steps, t2 - t1, work.data_seconds, work.sync_seconds));
  }
  result.peak_rss_mb = PeakRssMb();
  return result;
}

}  // namespace sam2::training
