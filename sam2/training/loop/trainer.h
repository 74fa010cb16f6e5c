// The training loop (reference: training/trainer.py): epochs, train / val
// phases, gradient accumulation, clipping, non-finite loss skipping, logs,
// TensorBoard scalars, checkpoints every save_freq epochs (and optionally
// every save_every_steps steps), automatic and exact resume.
//
// The loop talks to its parts through small interfaces so that it can be
// tested on toy parts and so that the distributed implementation plugs in
// through distributed::Collectives:
//   TrainTask        model + prompt simulation + loss on one batch
//   TrainOptimizer   parameter groups, schedules, clipping, the update
//   BatchSource      the data loader of one phase
//   CheckpointStore  how a checkpoint is written to / read from a file
//   ScalarSink       TensorBoard (or nothing)
//   Validator        a validation beyond the val losses (e.g. J&F of VOS
//                    inference), run with the val phase
//
// A step is W x A micro-batch slots (W ranks, A = gradient accumulation
// steps); rank r computes slots r A .. r A + A - 1. A slot's batch (its shard
// of the epoch, see data/loader/loader.h) and all its random draws (prompt
// simulation, dropout, drop path, augmentation) come from (seed, epoch, step,
// slot), never from the rank, and gradients are summed over slots in the
// canonical order (gradient_sync.h). So on the CPU, W x A and W' x A' with
// W A = W' A' train bitwise the same model (A, A' powers of two, or W = 1),
// a run resumed from the checkpoint of step k repeats steps k+1... bit for
// bit, and a checkpoint of W ranks resumes on W' ranks.
//
// Each step has three parts: gather gradients (the micro-batches), apply the
// update (finite vote, gradient sync, loss scaler, clip, optimizer step),
// report (logs, TensorBoard, checkpoint cadence). Benchmark() times the first
// two, exactly as training runs them.
#ifndef SAM2_TRAINING_LOOP_TRAINER_H_
#define SAM2_TRAINING_LOOP_TRAINER_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "configs/choices.h"
#include "data/batch/batch.h"
#include "distributed/collectives.h"
#include "sam2/training/logging/run_log.h"
#include "sam2/training/optim/grad_scaler.h"

namespace sam2::training {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;
using LossDict = std::map<std::string, at::Tensor>;

// The loss the optimizer minimises is LossDict["core_loss"].
inline constexpr char kCoreLoss[] = "core_loss";

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  virtual torch::nn::Module& model() = 0;
  // Seeds the task's own random choices (prompt simulation) for one step.
  virtual void SeedStep(uint64_t seed) = 0;
  // Forward pass and losses of one batch; kCoreLoss must be present.
  virtual absl::StatusOr<LossDict> Forward(
      const data::BatchedVideoDatapoint& batch) = 0;
  // The loss's num_objects: the objects of one batch (before averaging), and
  // the normaliser the following Forward calls divide by (the mean over the
  // step's slots, as the reference all-reduces it over ranks; <= 0: each
  // batch's own).
  virtual double LocalNumObjects(const data::BatchedVideoDatapoint& batch) {
    return batch.masks.defined() && batch.masks.dim() >= 2
               ? static_cast<double>(batch.masks.size(1))
               : 1.0;
  }
  virtual void SetNumObjects(double num_objects) {}
};

class TrainOptimizer {
 public:
  virtual ~TrainOptimizer() = default;
  virtual void ZeroGrad() = 0;
  // Sets every group's hyper-parameters from the schedules at progress
  // `where` in [0, 1).
  virtual void SetProgress(double where) = 0;
  // Clips gradients (if configured) and returns their total norm before
  // clipping.
  virtual double ClipGradients() = 0;
  virtual void Step() = 0;
  // The trainable parameters, whose gradients ranks average.
  virtual std::vector<at::Tensor> Parameters() = 0;
  // The same with their names (for messages about unused parameters).
  virtual std::vector<std::pair<std::string, at::Tensor>> NamedParameters();
  // Current hyper-parameters for logging, e.g. {"0/lr", 5e-6}.
  virtual std::vector<std::pair<std::string, double>> HyperParameters()
      const = 0;
  // Optimizer state (moments, step counts) for checkpoints.
  virtual NamedTensors State() const = 0;
  virtual absl::Status LoadState(const NamedTensors& state) = 0;
};

// Training sources deliver the micro-batches of this rank's A slots
// interleaved: A consecutive batches are one step's.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Batches this source delivers in an epoch (training: steps x A).
  virtual int64_t batches_per_epoch() const = 0;
  // Positions the source at batch `first_batch` of `epoch`.
  virtual absl::Status Start(int64_t epoch, int64_t first_batch) = 0;
  // The next batch, or nullopt at the end of the epoch.
  virtual absl::StatusOr<std::optional<data::BatchedVideoDatapoint>> Next() = 0;
  // Counters for the logs (e.g. skipped bad samples); may be empty.
  virtual std::vector<std::pair<std::string, double>> Counters() const {
    return {};
  }
};

// Where training stands: the trainer's progress state, saved in every
// checkpoint beside the payload (weights, optimizer state).
struct TrainProgress {
  int64_t epoch = 0;  // epoch of the next step to train
  // Steps of that epoch already taken; a step consumes batch `next_batch`
  // of every micro-batch slot's shard.
  int64_t next_batch = 0;
  int64_t step = 0;         // optimizer steps taken
  int64_t val_step = 0;     // validation batches seen
  double time_elapsed = 0;  // seconds of training so far
  int64_t nonfinite_skipped = 0;
  // Loss scaler state under mixed precision; loss_scale 0: no scaler.
  double loss_scale = 0;
  int64_t loss_scale_growth_tracker = 0;
  // The world that took the steps: ranks, accumulation, and the global
  // batch (samples per optimizer step); 0: unknown (older checkpoints,
  // reference-trainer checkpoints).
  int64_t world_size = 0;
  int64_t gradient_accumulation_steps = 0;
  int64_t global_batch = 0;
};

// Everything a checkpoint holds. `model` is the state_dict (parameters and
// buffers); the file keeps it under "model" in the official layout.
struct TrainerCheckpoint : TrainProgress {
  NamedTensors model;
  NamedTensors optimizer;
};

class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;
  virtual absl::Status Save(const std::string& path,
                            const TrainerCheckpoint& checkpoint) = 0;
  virtual absl::StatusOr<TrainerCheckpoint> Load(const std::string& path) = 0;
};

class ScalarSink {
 public:
  virtual ~ScalarSink() = default;
  virtual void AddScalar(const std::string& tag, double value,
                         int64_t step) = 0;
  virtual void Flush() = 0;
};

// A validation the trainer runs after the val losses (every val_epoch_freq
// epochs and after the last, as the val phase), on every rank together. It
// returns its meters (e.g. {"Meters_val/vos/J&F", 71.3}), the same on every
// rank; they go to the log, val_stats.json and TensorBoard beside the val
// losses, and may pick the best checkpoint (TrainerOptions::best_meter).
class Validator {
 public:
  virtual ~Validator() = default;
  // `epoch`: the number of the training epoch the validation follows.
  virtual absl::StatusOr<std::map<std::string, double>> Validate(
      int64_t epoch) = 0;
};

// Where the best validation is recorded: checkpoint_dir/checkpoint_best.pt
// and log_dir/best_stats.json.
inline constexpr char kBestCheckpointName[] = "checkpoint_best.pt";
inline constexpr char kBestStatsName[] = "best_stats.json";

struct TrainerOptions {
  config::TrainerMode mode = config::TrainerMode::kTrain;
  int64_t max_epochs = 1;
  int64_t seed_value = 123;
  int64_t val_epoch_freq = 1;
  int64_t max_consecutive_nonfinite_losses = 10;
  // A: micro-batch slots per rank and step.
  int64_t gradient_accumulation_steps = 1;
  // Samples per micro-batch, for the checkpoint's record of the global batch
  // (0: unknown).
  int64_t micro_batch_size = 0;
  // DDP's find_unused_parameters, distributed.comms_dtype and bucket size
  // (see gradient_sync.h).
  bool find_unused_parameters = false;
  std::optional<at::ScalarType> comms_dtype;
  int64_t bucket_bytes = int64_t{25} << 20;
  // Overlap the last slot's backward pass with the gradient all-reduce;
  // unset: where the collectives are asynchronous (NCCL).
  std::optional<bool> overlap_gradient_sync;
  // What every rank must agree on before training (the experiment adds its
  // resolved config); the trainer adds the parameter names and shapes, the
  // resume position and the batches per epoch.
  std::vector<std::pair<std::string, std::string>> agreement;
  // Resume a checkpoint taken with a different number of slots (W x A):
  // the global batch, and so the trajectory, change (logged). Otherwise
  // such a resume is refused.
  bool allow_global_batch_change = false;
  int64_t log_freq = 10;
  int64_t log_scalar_frequency = 100;
  std::string checkpoint_dir;  // empty: no checkpoints
  int64_t save_freq = 0;       // 0: only the last
  std::vector<int64_t> save_list;
  int64_t save_every_steps = 0;
  // Used only while checkpoint_dir/checkpoint.pt does not exist: after the
  // first save, a restart resumes from the run's own checkpoint.
  std::string resume_from;
  // State_dict keys (fnmatch patterns) left out of saved checkpoints; the
  // matching parameters must be frozen, and a resume leaves them as the
  // model initialiser set them (the reference's skip_saving_parameters).
  std::vector<std::string> skip_saving_parameters;
  // Test hook: stop (as if killed) after this many optimizer steps in this
  // process; 0: never.
  int64_t stop_after_steps = 0;
  // Checkpoint and stop at the first step boundary after this many seconds
  // of this process (ahead of a wall-time limit); 0: never.
  double exit_after_seconds = 0;
  // The collectives' timeout once training runs (the start has its own,
  // set by the caller); unset: leave it.
  std::optional<double> collective_timeout_s;
  // The validation stat that picks the best checkpoint (the reference's
  // save_best_meters, one meter): after a validation whose value beats the
  // best so far, checkpoint_dir/checkpoint_best.pt (the epoch's checkpoint)
  // and then log_dir/best_stats.json (that validation's stats) are replaced
  // atomically; on resume the best so far is read back from best_stats.json.
  // Empty: no best checkpoint. Training modes only.
  std::string best_meter;
  bool best_higher_is_better = true;
};

struct TrainerParts {
  TrainTask* task = nullptr;
  TrainOptimizer* optimizer = nullptr;     // train modes
  BatchSource* train_data = nullptr;       // train modes
  BatchSource* val_data = nullptr;         // train and val modes
  Validator* validator = nullptr;          // may be null
  CheckpointStore* checkpoints = nullptr;  // may be null: no checkpoints
  ScalarSink* scalars = nullptr;           // may be null
  RunLog* log = nullptr;
  distributed::Collectives* collectives = nullptr;
  // Mixed precision: scales the loss, unscales gradients, skips overflowing
  // steps (may be null: no scaling).
  optim::GradScaler* grad_scaler = nullptr;
  // Peak accelerator memory in MB since the previous call with reset=true;
  // may be empty or return nullopt (CPU runs: only the process's RSS).
  std::function<std::optional<double>(bool reset)> device_memory_mb;
  // Waits for the accelerator's queued work (benchmark timings); may be empty.
  std::function<void()> synchronize_device;
  // A stop request of this process (the signal number, e.g. SIGUSR1 before
  // a preemption; 0: none); may be empty. Ranks agree on it at the next step
  // boundary, checkpoint and stop.
  std::function<int()> stop_requested;
};

struct EpochStats {
  std::map<std::string, double> values;  // averaged losses and meters
};

struct BenchmarkResult {
  std::vector<double> step_seconds;  // forward..optimizer step, sync included
  std::vector<double> sync_seconds;  // the gradient sync's part of each step
  std::vector<double> data_seconds;  // waiting for the batch
  double peak_rss_mb = 0;
  std::optional<double> peak_device_mb;  // the largest step's, on a GPU
};

class GradientSync;

class Trainer {
 public:
  Trainer(TrainerOptions options, TrainerParts parts);
  ~Trainer();

  // Resumes from the last checkpoint when there is one, then runs the
  // configured mode to the end.
  absl::Status Run();

  // Runs `steps` training steps without checkpoints and times them.
  // `before_steady_steps` runs before the second step (the first warms up
  // allocators and caches), or before the only one.
  absl::StatusOr<BenchmarkResult> Benchmark(
      int64_t steps, const std::function<void()>& before_steady_steps = {});

  const TrainProgress& state() const { return state_; }
  // Losses averaged over the last finished epoch of each phase.
  const std::map<std::string, double>& last_train_stats() const {
    return last_train_stats_;
  }
  const std::map<std::string, double>& last_val_stats() const {
    return last_val_stats_;
  }
  // The best value of options.best_meter so far (nullopt: none yet).
  const std::optional<double>& best_value() const { return best_value_; }
  // Whether Run() stopped early on a stop request (signal or
  // exit_after_seconds) after checkpointing; the reason for the log.
  bool preempted() const { return preempted_; }
  const std::string& stop_reason() const { return stop_reason_; }
  // Per-step core losses of this process (for tests and the demo report).
  const std::vector<double>& step_losses() const { return step_losses_; }

 private:
  absl::Status MaybeResume();
  // The validation of `epoch` was interrupted (a preempted job resumes at
  // batch 0 of the next epoch, and val_stats.json has no line for it).
  bool ValInterruptedBeforeResume() const;
  bool IsIntermediateValEpoch(int64_t epoch) const;
  // Refuses (or, when allowed, adapts to) a checkpoint of another W x A.
  absl::Status CheckResumedWorld(TrainerCheckpoint& checkpoint,
                                 const std::string& path);
  // Multi-process start: ranks agree on what they run, then take rank 0's
  // parameters and buffers.
  absl::Status StartWorld();
  absl::Status TrainEpoch();
  // Validates after training epoch `epoch` (the number its stats carry).
  absl::Status ValEpoch(int64_t epoch);
  bool HasValidation() const {
    return parts_.val_data != nullptr || parts_.validator != nullptr;
  }
  // The val losses of `epoch` (means over ranks), into `means`.
  absl::Status ValLosses(int64_t epoch, std::map<std::string, double>& means,
                         int64_t* batches);
  // checkpoint_best.pt and best_stats.json when `stats` beat the best.
  absl::Status MaybeSaveBest(const std::map<std::string, double>& stats);
  // Steps in an epoch whose source delivers `batches` micro-batches.
  absl::StatusOr<int64_t> StepsPerEpoch(int64_t batches) const;
  // One optimizer step; returns false at the end of the epoch.
  absl::StatusOr<bool> TrainStep(int64_t steps_per_epoch);

  struct StepWork;
  // The step's A micro-batches (false: the epoch is over).
  absl::StatusOr<bool> LoadStepBatches(StepWork& work);
  // Forward and backward of every slot; gradients summed over the slots.
  absl::Status GatherGradients(StepWork& work);
  // Finite vote, gradient sync, loss scaler, clip, optimizer step.
  absl::Status ApplyUpdate(StepWork& work, int64_t steps_per_epoch);
  // Logs, TensorBoard, checkpoint cadence.
  absl::Status Report(StepWork& work, int64_t steps_per_epoch);
  // This process's stop request (0: none), and its text.
  int LocalStopRequest(std::string* reason) const;
  int64_t total_slots() const;
  absl::Status SaveCheckpoint(bool end_of_epoch);
  absl::Status SaveCheckpointTo(const std::string& path);
  void LogScalars(const std::map<std::string, double>& values, int64_t step);

  TrainerOptions options_;
  TrainerParts parts_;
  TrainProgress state_;
  std::unique_ptr<GradientSync> sync_;
  std::map<std::string, double> last_train_stats_;
  std::map<std::string, double> last_val_stats_;
  std::optional<double> best_value_;
  bool warned_missing_best_meter_ = false;
  std::vector<double> step_losses_;
  std::map<std::string, double> epoch_loss_sums_;
  int64_t epoch_loss_steps_ = 0;
  int64_t consecutive_nonfinite_ = 0;
  int64_t steps_this_process_ = 0;
  double process_start_ = 0;
  double elapsed_at_start_ = 0;
  bool stopped_ = false;
  bool preempted_ = false;
  // Agreed at a step boundary; acted on at the end of the step (or, on the
  // epoch's last step, once the epoch is checkpointed).
  bool stop_agreed_ = false;
  std::string stop_reason_;
  bool resumed_ = false;  // state_ came from a checkpoint
};

// The checkpoint a run resumes from: checkpoint_dir/checkpoint.pt when it
// exists, else `resume_from` (which must then exist), else none (nullopt).
// As the reference (trainer.py: resume_from is copied to
// save_dir/checkpoint.pt only when that file does not exist yet).
absl::StatusOr<std::optional<std::string>> ResumeCheckpointPath(
    const std::string& checkpoint_dir, const std::string& resume_from);

// Peak resident memory of this process in MB (VmHWM).
double PeakRssMb();

}  // namespace sam2::training

#endif  // SAM2_TRAINING_LOOP_TRAINER_H_
