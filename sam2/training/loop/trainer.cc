#include "sam2/training/loop/trainer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/torch_errors.h"
#include "sam2/checkpoint/state_dict.h"
#include "sam2/training/loop/atomic_file.h"
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
}

absl::Status Trainer::Run() {
  process_start_ = Now();
  SAM2_RETURN_IF_ERROR(MaybeResume());
  elapsed_at_start_ = state_.time_elapsed;
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
  if (!resumed_ || parts_.val_data == nullptr || state_.next_batch != 0 ||
      previous < 0 || !IsIntermediateValEpoch(previous)) {
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
  SAM2_RETURN_IF_ERROR(LoadModelState(parts_.task->model(), checkpoint.model,
                                      options_.skip_saving_parameters, path));
  if (parts_.optimizer != nullptr) {
    SAM2_RETURN_IF_ERROR_CONTEXT(
        parts_.optimizer->LoadState(checkpoint.optimizer),
        "optimizer state in ", path);
  }
  state_ = std::move(checkpoint);
  state_.model.clear();
  state_.optimizer.clear();
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

absl::Status Trainer::TrainEpoch() {
  BatchSource& data = *parts_.train_data;
  if (absl::Status s = data.Start(state_.epoch, state_.next_batch); !s.ok()) {
    return s;
  }
  const int64_t batches = data.batches_per_epoch();
  if (batches <= 0) {
    return absl::FailedPreconditionError(
        "the training data yields no batch: check the dataset and batch size "
        "(with drop_last, a dataset needs at least batch_size videos per "
        "rank)");
  }
  parts_.task->model().train();
  epoch_loss_sums_.clear();
  epoch_loss_steps_ = 0;
  while (true) {
    absl::StatusOr<bool> more = TrainStep(batches);
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

absl::StatusOr<bool> Trainer::TrainStep(int64_t batches_per_epoch) {
  const int64_t first_batch = state_.next_batch;
  if (first_batch >= batches_per_epoch) return false;
  distributed::Collectives& world = *parts_.collectives;
  TrainOptimizer& optimizer = *parts_.optimizer;
  const int rank = world.rank();

  SeedTorch(
      StepSeed(options_.seed_value, rank, state_.step, SeedStream::kTorch));
  parts_.task->SeedStep(
      StepSeed(options_.seed_value, rank, state_.step, SeedStream::kPrompts));
  optimizer.ZeroGrad();

  const int64_t accumulation = options_.gradient_accumulation_steps;
  double data_seconds = 0, compute_seconds = 0;
  int64_t micro_batches = 0;
  int64_t samples = 0;  // videos (or images) in this step's batches
  bool finite = true;
  std::string culprit;
  std::map<std::string, double> loss_values;
  for (int64_t k = 0; k < accumulation; ++k) {
    const double t0 = Now();
    absl::StatusOr<std::optional<data::BatchedVideoDatapoint>> batch =
        parts_.train_data->Next();
    if (!batch.ok()) return batch.status();
    const double t1 = Now();
    data_seconds += t1 - t0;
    if (!batch->has_value()) break;
    state_.next_batch += 1;
    ++micro_batches;
    samples += (*batch)->num_videos();
    // LibTorch's exceptions (shape errors, out of memory) end the run as a
    // Status naming the step, never as an uncaught exception.
    const std::string where_text =
        absl::StrCat("step ", state_.step + 1, " (epoch ", state_.epoch,
                     ", batch ", state_.next_batch - 1, ")");
    SAM2_ASSIGN_OR_RETURN(LossDict losses,
                          base::CallCatchingTorchErrors(where_text, [&] {
                            return parts_.task->Forward(**batch);
                          }));
    auto core = losses.find(kCoreLoss);
    if (core == losses.end()) {
      return absl::InternalError("the task returned no core_loss");
    }
    const double core_value = core->second.item<double>();
    if (std::isfinite(core_value)) {
      const double loss_scale =
          parts_.grad_scaler != nullptr ? parts_.grad_scaler->scale() : 1.0;
      SAM2_RETURN_IF_ERROR(base::CallCatchingTorchErrors(
          absl::StrCat(where_text, ", backward"), [&] {
            (core->second * (loss_scale / static_cast<double>(accumulation)))
                .backward();
          }));
    } else if (finite) {
      finite = false;
      culprit = VideoIds(**batch);
    }
    for (const auto& [name, value] : losses) {
      loss_values[name] += value.item<double>() / accumulation;
    }
    compute_seconds += Now() - t1;
  }
  if (micro_batches == 0) return false;

  const double t_sync = Now();
  // Every rank must take the same decision, or gradient averaging deadlocks.
  std::vector<at::Tensor> flag = {
      at::full({1}, finite ? 0.0 : 1.0, at::kDouble)};
  world.AllReduceSum(flag);
  const bool all_finite = flag[0].item<double>() == 0.0;
  const double where = (static_cast<double>(state_.epoch) +
                        static_cast<double>(first_batch) / batches_per_epoch) /
                       static_cast<double>(options_.max_epochs);
  double grad_norm = NAN;
  if (!all_finite) {
    optimizer.ZeroGrad();
    ++state_.nonfinite_skipped;
    ++consecutive_nonfinite_;
    parts_.log->Warning(
        absl::StrCat("non-finite loss at step ", state_.step, " (epoch ",
                     state_.epoch, ", batch ", first_batch, ", videos ",
                     culprit.empty() ? "on another rank" : culprit,
                     "): update skipped (", consecutive_nonfinite_,
                     " in a row, ", state_.nonfinite_skipped, " in total)"));
    if (consecutive_nonfinite_ >= options_.max_consecutive_nonfinite_losses) {
      return absl::AbortedError(absl::StrCat(
          consecutive_nonfinite_,
          " non-finite losses in a row: training diverged (raise "
          "trainer.max_consecutive_nonfinite_losses to tolerate more)"));
    }
  } else {
    consecutive_nonfinite_ = 0;
    if (world.world_size() > 1) {
      std::vector<at::Tensor> grads;
      for (at::Tensor& p : optimizer.Parameters()) {
        if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
        grads.push_back(p.grad());
      }
      world.AllReduceMean(grads);
    }
    // As the reference: no schedule update once training is at its end.
    if (where < 1.0) optimizer.SetProgress(where);
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
      grad_norm = optimizer.ClipGradients();
      optimizer.Step();
    }
    if (scaler != nullptr) scaler->Update(overflow);
  }
  compute_seconds += Now() - t_sync;
  state_.step += 1;
  ++steps_this_process_;
  state_.time_elapsed = elapsed_at_start_ + (Now() - process_start_);

  // Losses averaged over ranks for the logs.
  std::vector<at::Tensor> values;
  for (const auto& [name, v] : loss_values) {
    values.push_back(at::full({1}, v, at::kDouble));
  }
  world.AllReduceMean(values);
  size_t i = 0;
  for (auto& [name, v] : loss_values) v = values[i++].item<double>();
  step_losses_.push_back(loss_values[kCoreLoss]);
  if (all_finite) {
    for (const auto& [name, v] : loss_values) epoch_loss_sums_[name] += v;
    ++epoch_loss_steps_;
  }

  // As the reference's memory meter: this step's peak, then a fresh peak.
  std::optional<double> device_peak_mb;
  if (parts_.device_memory_mb) device_peak_mb = parts_.device_memory_mb(true);

  if (state_.step % options_.log_freq == 0 || state_.step == 1) {
    const int64_t total = options_.max_epochs * batches_per_epoch;
    const int64_t done = state_.epoch * batches_per_epoch + state_.next_batch;
    const double per_batch = (Now() - process_start_) /
                             std::max<int64_t>(1, steps_this_process_) /
                             std::max<int64_t>(1, micro_batches);
    parts_.log->Info(absl::StrFormat(
        "Train Epoch: [%d][%d/%d] step %d | Batch Time %.2fs | Data Time "
        "%.2fs | Samples/s %.2f | Mem %.0f MB%s | Loss %.4e | Grad norm %.3g | "
        "ETA %s",
        state_.epoch, state_.next_batch, batches_per_epoch, state_.step,
        compute_seconds + data_seconds, data_seconds,
        samples / std::max(1e-9, compute_seconds + data_seconds), PeakRssMb(),
        DeviceMemoryText(device_peak_mb), loss_values[kCoreLoss], grad_norm,
        FormatDuration(per_batch * static_cast<double>(total - done))));
  }
  if (parts_.scalars != nullptr &&
      (state_.step % options_.log_scalar_frequency == 0 || state_.step == 1)) {
    std::map<std::string, double> scalars;
    for (const auto& [name, v] : loss_values) {
      scalars["Losses/train_all_" + name] = v;
    }
    for (const auto& [name, v] : optimizer.HyperParameters()) {
      scalars["Optim/" + name] = v;
    }
    scalars["Optim/grad_norm"] = grad_norm;
    scalars["Step_Stats/train/Batch Time"] = compute_seconds + data_seconds;
    scalars["Step_Stats/train/Data Time"] = data_seconds;
    scalars["Step_Stats/train/Samples per s"] =
        samples / std::max(1e-9, compute_seconds + data_seconds);
    scalars["Step_Stats/train/Mem (MB)"] = PeakRssMb();
    if (device_peak_mb) {
      scalars["Step_Stats/train/GPU Mem (MB)"] = *device_peak_mb;
    }
    scalars["Trainer/where"] = where;
    scalars["Trainer/epoch"] = static_cast<double>(state_.epoch);
    for (const auto& [name, v] : parts_.train_data->Counters()) {
      scalars["Data/" + name] = v;
    }
    LogScalars(scalars, state_.step);
  }
  if (options_.save_every_steps > 0 &&
      state_.step % options_.save_every_steps == 0) {
    if (absl::Status s = SaveCheckpoint(/*end_of_epoch=*/false); !s.ok()) {
      return s;
    }
  }
  if (options_.stop_after_steps > 0 &&
      steps_this_process_ >= options_.stop_after_steps) {
    stopped_ = true;
  }
  return true;
}

absl::Status Trainer::ValEpoch(int64_t epoch) {
  // mode "train" without a val dataset trains and skips validation.
  if (parts_.val_data == nullptr) return absl::OkStatus();
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
  std::map<std::string, double> means = averages.Means();
  std::vector<at::Tensor> values;
  for (const auto& [name, v] : means) {
    values.push_back(at::full({1}, v, at::kDouble));
  }
  parts_.collectives->AllReduceMean(values);
  size_t i = 0;
  for (auto& [name, v] : means) v = values[i++].item<double>();
  means["Trainer/epoch"] = static_cast<double>(epoch);
  means["Trainer/steps_val"] = static_cast<double>(state_.val_step);
  last_val_stats_ = means;
  parts_.log->Info(absl::StrCat("Val epoch ", epoch, " (", batches,
                                " batches): core_loss ",
                                means["Losses/val_all_core_loss"]));
  // As the reference's logger.log_dict(outs, self.epoch): epoch-level
  // validation scalars are logged at the epoch number.
  LogScalars(means, epoch);
  return parts_.log->AppendStats("val_stats.json", means);
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
  TrainerCheckpoint checkpoint = state_;
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

absl::StatusOr<BenchmarkResult> Trainer::Benchmark(int64_t steps) {
  if (parts_.optimizer == nullptr || parts_.train_data == nullptr) {
    return absl::FailedPreconditionError(
        "the benchmark needs an optimizer and training data");
  }
  BatchSource& data = *parts_.train_data;
  TrainOptimizer& optimizer = *parts_.optimizer;
  int64_t epoch = 0;
  if (absl::Status s = data.Start(epoch, 0); !s.ok()) return s;
  parts_.task->model().train();
  BenchmarkResult result;
  for (int64_t i = 0; i < steps; ++i) {
    const double t0 = Now();
    absl::StatusOr<std::optional<data::BatchedVideoDatapoint>> batch =
        data.Next();
    if (!batch.ok()) return batch.status();
    if (!batch->has_value()) {
      if (absl::Status s = data.Start(++epoch, 0); !s.ok()) return s;
      batch = data.Next();
      if (!batch.ok()) return batch.status();
      if (!batch->has_value()) {
        return absl::FailedPreconditionError("the training data is empty");
      }
    }
    if (parts_.synchronize_device) parts_.synchronize_device();
    const double t1 = Now();
    SeedTorch(StepSeed(options_.seed_value, 0, i, SeedStream::kTorch));
    parts_.task->SeedStep(
        StepSeed(options_.seed_value, 0, i, SeedStream::kPrompts));
    optimizer.ZeroGrad();
    SAM2_RETURN_IF_ERROR(base::CallCatchingTorchErrors(
        absl::StrCat("benchmark step ", i + 1), [&]() -> absl::Status {
          SAM2_ASSIGN_OR_RETURN(LossDict losses, parts_.task->Forward(**batch));
          losses.at(kCoreLoss).backward();
          return absl::OkStatus();
        }));
    optimizer.SetProgress(0.0);
    optimizer.ClipGradients();
    optimizer.Step();
    if (parts_.synchronize_device) parts_.synchronize_device();
    const double t2 = Now();
    if (parts_.device_memory_mb) {
      if (std::optional<double> mb = parts_.device_memory_mb(true)) {
        result.peak_device_mb =
            std::max(result.peak_device_mb.value_or(0), *mb);
      }
    }
    result.data_seconds.push_back(t1 - t0);
    result.step_seconds.push_back(t2 - t1);
    parts_.log->Info(absl::StrFormat("benchmark step %d/%d: %.3fs (data %.3fs)",
                                     i + 1, steps, t2 - t1, t1 - t0));
  }
  result.peak_rss_mb = PeakRssMb();
  return result;
}

}  // namespace sam2::training
