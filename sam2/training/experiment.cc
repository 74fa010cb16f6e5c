#include "sam2/training/experiment.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <numeric>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/torch_errors.h"
#include "configs/choices.h"
#include "distributed/mpi_world.h"
#include "sam2/checkpoint/state_dict.h"
#include "sam2/checkpoint/torch_file.h"
#include "sam2/training/data_builder.h"
#include "sam2/training/logging/profile_trace.h"
#include "sam2/training/logging/run_log.h"
#include "sam2/training/logging/tensorboard/event_writer.h"
#include "sam2/training/loop/atomic_file.h"
#include "sam2/training/loop/checkpoint_store.h"
#include "sam2/training/loop/seeding.h"
#include "sam2/training/loop/trainer.h"
#include "sam2/training/model_builder.h"
#include "sam2/training/optim/adamw.h"
#include "sam2/training/optim/grad_scaler.h"
#include "sam2/training/runtime/autocast.h"
#include "sam2/training/runtime/cuda_backend.h"
#include "sam2/training/runtime/device.h"
#include "sam2/training/runtime/preemption.h"
#include "sam2/training/validation/vos_validator.h"

namespace sam2::training {
namespace {

TrainerOptions TrainerOptionsFromConfig(const config::Experiment& e,
                                        config::TrainerMode mode,
                                        const RunOptions& run) {
  TrainerOptions o;
  o.mode = mode;
  o.max_epochs = e.trainer().max_epochs();
  o.seed_value = e.trainer().seed_value();
  o.val_epoch_freq = e.trainer().val_epoch_freq();
  o.max_consecutive_nonfinite_losses =
      e.trainer().max_consecutive_nonfinite_losses();
  o.gradient_accumulation_steps = e.optim().gradient_accumulation_steps();
  o.log_freq = e.logging().log_freq();
  o.log_scalar_frequency = e.logging().log_scalar_frequency();
  o.checkpoint_dir = e.checkpoint().save_dir();
  o.save_freq = e.checkpoint().save_freq();
  o.save_list.assign(e.checkpoint().save_list().begin(),
                     e.checkpoint().save_list().end());
  o.save_every_steps = e.checkpoint().save_every_steps();
  o.resume_from = e.checkpoint().resume_from();
  o.skip_saving_parameters.assign(
      e.checkpoint().skip_saving_parameters().begin(),
      e.checkpoint().skip_saving_parameters().end());
  o.stop_after_steps = run.stop_after_steps;
  o.exit_after_seconds = 60.0 * e.trainer().exit_after_minutes();
  o.collective_timeout_s = 60.0 * e.distributed().timeout_mins();
  if (e.data().has_train() && e.data().train().datasets_size() > 0) {
    o.micro_batch_size = e.data().train().datasets(0).batch_size();
  }
  o.find_unused_parameters = e.distributed().find_unused_parameters();
  if (e.distributed().has_comms_dtype()) {
    // Validated with the config.
    o.comms_dtype = AmpScalarType(
        *config::ParseChoice<config::AmpDtype>(e.distributed().comms_dtype()));
  }
  o.allow_global_batch_change = e.checkpoint().allow_global_batch_change();
  o.best_meter = e.checkpoint().save_best_meter();
  o.best_higher_is_better = e.checkpoint().save_best_higher_is_better();
  // Ranks compare their resolved configs before training.
  o.agreement.emplace_back("resolved config", config::ToText(e));
  return o;
}

// The reference's model_weight_initializer (load_state_dict_into_model).
absl::Status InitializeWeights(const config::ModelWeightInitializerConfig& c,
                               torch::nn::Module& model, RunLog& log) {
  std::vector<std::string> keys(c.ckpt_state_dict_keys().begin(),
                                c.ckpt_state_dict_keys().end());
  SAM2_ASSIGN_OR_RETURN(checkpoint::TensorDict state_dict,
                        checkpoint::LoadStateDict(c.checkpoint_path(), keys));
  checkpoint::LoadOptions options;
  options.strict = c.strict();
  options.ignore_missing_keys.assign(c.ignore_missing_keys().begin(),
                                     c.ignore_missing_keys().end());
  options.ignore_unexpected_keys.assign(c.ignore_unexpected_keys().begin(),
                                        c.ignore_unexpected_keys().end());
  SAM2_ASSIGN_OR_RETURN(checkpoint::LoadReport report,
                        checkpoint::LoadStateDictIntoModel(
                            model, state_dict, options, c.checkpoint_path()));
  log.Info(absl::StrCat("Initialised the model from ", c.checkpoint_path(),
                        " (", state_dict.size(), " tensors; ",
                        report.missing.size(), " missing, ",
                        report.unexpected.size(), " unexpected)"));
  return absl::OkStatus();
}

// checkpoint.skip_saving_parameters must name frozen parameters only, or a
// resumed run would restart them from their initial values (the reference's
// assert_skipped_parameters_are_frozen); each pattern must match a key.
absl::Status CheckSkippedParametersAreFrozen(const config::CheckpointConfig& c,
                                             const torch::nn::Module& model) {
  const std::vector<std::string> patterns(c.skip_saving_parameters().begin(),
                                          c.skip_saving_parameters().end());
  const checkpoint::TensorDict state = checkpoint::ModelStateDict(model);
  std::vector<std::string> unmatched, trainable;
  for (const std::string& pattern : patterns) {
    const bool any = std::any_of(
        state.begin(), state.end(),
        [&](const auto& kv) { return checkpoint::Fnmatch(kv.first, pattern); });
    if (!any) unmatched.push_back(pattern);
  }
  if (!unmatched.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint.skip_saving_parameters: ", absl::StrJoin(unmatched, ", "),
        " match no key of the model's state_dict"));
  }
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    if (item.value().requires_grad() &&
        checkpoint::MatchesAny(item.key(), patterns)) {
      trainable.push_back(item.key());
    }
  }
  if (!trainable.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint.skip_saving_parameters: parameters left out of "
        "checkpoints must be frozen, but ",
        trainable.size(), " are trainable (", absl::StrJoin(trainable, ", "),
        "): freeze them (optim.frozen_param_patterns, "
        "model.freeze_image_encoder) or stop skipping them"));
  }
  return absl::OkStatus();
}

// Whether the model initialiser runs: on a fresh start, and on a resume when
// initialize_after_preemption (default: skip_saving_parameters is set), as
// the reference's load_checkpoint.
bool RunsModelInitializer(const config::CheckpointConfig& c, bool resumes) {
  if (!c.has_model_weight_initializer()) return false;
  if (!resumes) return true;
  return c.has_initialize_after_preemption()
             ? c.initialize_after_preemption()
             : !c.skip_saving_parameters().empty();
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

absl::StatusOr<RunOutcome> RunExperiment(const config::LoadedExperiment& loaded,
                                         const RunOptions& run,
                                         distributed::Collectives& world) {
  const config::Experiment& e = loaded.experiment;
  // The string choices, parsed once here (the validator used the same
  // parsers, so these fail only for configs that skipped validation).
  SAM2_ASSIGN_OR_RETURN_CONTEXT(
      const config::TrainerMode mode,
      config::ParseChoice<config::TrainerMode>(e.trainer().mode()),
      "trainer.mode");
  SAM2_ASSIGN_OR_RETURN_CONTEXT(
      const config::Accelerator accelerator,
      config::ParseChoice<config::Accelerator>(e.trainer().accelerator()),
      "trainer.accelerator");
  SAM2_ASSIGN_OR_RETURN(const c10::Device device,
                        ResolveDevice(accelerator, world.local_rank()));
  if (e.trainer().num_threads() > 0)
    at::set_num_threads(e.trainer().num_threads());
  if (e.trainer().blas_threads() > 0)
    SetBlasThreads(e.trainer().blas_threads());

  // Start-up collectives have their own bound; training's is set once the
  // ranks agree (Trainer::Run).
  world.SetTimeoutSeconds(60.0 * e.distributed().startup_timeout_mins());
  world.SetTraceDirectory(e.logging().log_dir());
  const std::string& root = e.launcher().experiment_log_dir();
  SAM2_ASSIGN_OR_RETURN(std::unique_ptr<RunLog> log,
                        RunLog::Open(e.logging().log_dir(), world.rank()));
  if (world.is_main()) {
    SAM2_RETURN_IF_ERROR(
        WriteStringAtomically(root + "/config.pbtxt", config::ToText(e)));
  }
  log->Info(absl::StrCat("Experiment ", loaded.name, " (", loaded.path,
                         "), logs in ", root));
  log->Info(absl::StrCat(
      "World: ", world.world_size(), " rank",
      world.world_size() == 1 ? "" : "s", " (", world.num_nodes(), " node",
      world.num_nodes() == 1 ? "" : "s", ", ", world.transport(), ")"));
  if (const SlurmJob job =
          SlurmJobFromEnvironment(distributed::CurrentEnvironment());
      job.present) {
    log->Info(DescribeSlurmJob(job));
  }

  if (device.is_cuda()) {
    const CudaBackendSettings cuda =
        CudaBackendSettingsFromConfig(e.trainer().cuda());
    ApplyCudaBackendSettings(cuda);
    log->Info(absl::StrCat("CUDA: ", DescribeCudaBackendSettings(cuda)));
  }

  // Model and task. Seeded first, as the reference seeds before building
  // the model: two fresh runs of one config start from the same weights.
  SAM2_ASSIGN_OR_RETURN(SAM2TrainOptions model_options,
                        ModelOptionsFromConfig(e.model()));
  model_options.seed = e.trainer().seed_value();
  SeedTorch(ModelInitSeed(e.trainer().seed_value()));
  SAM2_ASSIGN_OR_RETURN(
      SAM2Train model, base::CallCatchingTorchErrors("building the model", [&] {
        return SAM2Train(model_options);
      }));
  int64_t parameters = 0;
  for (const at::Tensor& p : model->parameters()) parameters += p.numel();
  log->Info(absl::StrFormat("Model: %.2fM parameters", parameters / 1e6));
  SAM2_ASSIGN_OR_RETURN(std::optional<std::string> resume,
                        ResumeCheckpointPath(e.checkpoint().save_dir(),
                                             e.checkpoint().resume_from()));
  if (RunsModelInitializer(e.checkpoint(), resume.has_value())) {
    const config::ModelWeightInitializerConfig& init =
        e.checkpoint().model_weight_initializer();
    SAM2_RETURN_IF_ERROR(base::CallCatchingTorchErrors(
        init.checkpoint_path(),
        [&] { return InitializeWeights(init, *model, *log); }));
  }
  model->to(device);
  // As the reference, whose torch.cuda.amp.autocast is a no-op on the CPU:
  // mixed precision on GPUs only, float32 on the CPU.
  TaskDeviceOptions task_device;
  task_device.device = device;
  task_device.autocast = e.optim().amp_enabled() && device.is_cuda();
  if (task_device.autocast) {
    SAM2_ASSIGN_OR_RETURN_CONTEXT(
        const config::AmpDtype dtype,
        config::ParseChoice<config::AmpDtype>(e.optim().amp_dtype()),
        "optim.amp_dtype");
    task_device.autocast_dtype = AmpScalarType(dtype);
  }
  log->Info(absl::StrCat(
      "Device: ", device.str(),
      task_device.autocast
          ? absl::StrCat(", autocast to ", e.optim().amp_dtype(),
                         " with loss scaling")
          : (e.optim().amp_enabled() ? " (optim.amp_enabled applies to CUDA "
                                       "only: float32 on the CPU)"
                                     : ", float32")));
  log->Info(absl::StrCat("Threads: ", at::get_num_threads(),
                         " intra-op; BLAS: ", DescribeBlas()));
  Sam2TrainTask task(model, LossOptionsFromConfig(e.loss()), task_device);
  // The reference's trainer enables its GradScaler with amp, for bfloat16 too.
  std::unique_ptr<optim::GradScaler> grad_scaler;
  if (task_device.autocast) grad_scaler = std::make_unique<optim::GradScaler>();

  // Optimizer (training modes).
  std::unique_ptr<optim::AdamW> optimizer;
  if (mode != config::TrainerMode::kVal) {
    // AdamW is the schema's only optimizer (config::Optimizer).
    SAM2_RETURN_IF_ERROR_CONTEXT(
        config::ParseChoice<config::Optimizer>(e.optim().optimizer()),
        "optim.optimizer");
    SAM2_ASSIGN_OR_RETURN(optimizer, optim::AdamW::Create(*model, e.optim()));
    SAM2_RETURN_IF_ERROR(
        CheckSkippedParametersAreFrozen(e.checkpoint(), *model));
    log->Info(absl::StrCat("Optimizer: AdamW, ", optimizer->Parameters().size(),
                           " of ", optimizer->params().size(),
                           " parameter tensors trainable, ",
                           optimizer->groups().size(), " groups"));
  }

  // Data.
  DataBuildContext context;
  context.seed = static_cast<uint64_t>(e.trainer().seed_value());
  // Training: rank r loads the shards of its micro-batch slots r A ..
  // r A + A - 1 of W A; validation: one shard per rank.
  const int accumulation = e.optim().gradient_accumulation_steps();
  context.num_shards = world.world_size() * accumulation;
  context.first_shard = world.rank() * accumulation;
  context.shards_here = accumulation;
  RunLog* log_ptr = log.get();
  context.on_warning = [log_ptr](const std::string& m) { log_ptr->Warning(m); };
  std::unique_ptr<LoaderBatchSource> train_data, val_data;
  if (e.data().has_train() && mode != config::TrainerMode::kVal) {
    SAM2_ASSIGN_OR_RETURN(
        auto loader, BuildDataLoader(e.data().train(), context, "data.train"));
    train_data = std::make_unique<LoaderBatchSource>(std::move(loader));
  }
  if (e.data().has_val() && mode != config::TrainerMode::kTrainOnly) {
    DataBuildContext val_context = context;
    val_context.num_shards = world.world_size();
    val_context.first_shard = world.rank();
    val_context.shards_here = 1;
    SAM2_ASSIGN_OR_RETURN(
        auto loader, BuildDataLoader(e.data().val(), val_context, "data.val"));
    val_data = std::make_unique<LoaderBatchSource>(std::move(loader));
  }

  std::unique_ptr<tensorboard::EventWriter> tensorboard;
  if (e.logging().tensorboard() && world.is_main() &&
      run.benchmark_steps == 0) {
    SAM2_ASSIGN_OR_RETURN(tensorboard, tensorboard::EventWriter::Create(
                                           e.logging().tensorboard_dir(),
                                           e.logging().flush_secs()));
  }
  // J&F of VOS inference with the current weights, beside the val losses.
  std::unique_ptr<VosValidator> vos_validator;
  if (e.data().has_val_vos() && mode != config::TrainerMode::kTrainOnly &&
      run.benchmark_steps == 0) {
    const config::VOSValidationConfig& v = e.data().val_vos();
    VosValidationOptions vos;
    vos.img_folder = v.img_folder();
    vos.gt_folder = v.gt_folder();
    vos.file_list_txt = v.file_list_txt();
    vos.score_thresh = v.score_thresh();
    vos.max_videos = v.max_videos();
    vos.skip_first_and_last_frame = v.skip_first_and_last_frame();
    vos.num_pictures = v.num_pictures();
    vos.picture_max_frames = v.picture_max_frames();
    if (!e.logging().log_dir().empty()) {
      vos.pictures_dir = e.logging().log_dir() + "/val_pictures";
    }
    // On the training device; bfloat16 on GPUs as the reference's
    // tools/vos_inference.py, whatever the training's amp settings.
    vos.device = device;
    vos.autocast_bf16 = device.is_cuda();
    SAM2_ASSIGN_OR_RETURN(vos_validator,
                          VosValidator::Create(vos, model_options.base, *model,
                                               world, *log, tensorboard.get()));
  }
  // Also resumes from the reference trainer's checkpoints (resume_from).
  TorchCheckpointStore store(optimizer.get());
  TrainerParts parts;
  parts.task = &task;
  parts.optimizer = optimizer.get();
  parts.train_data = train_data.get();
  parts.val_data = val_data.get();
  parts.validator = vos_validator.get();
  parts.checkpoints = &store;
  const c10::Device train_device = device;
  parts.device_memory_mb = [train_device](bool reset) {
    return PeakDeviceMemoryMb(train_device, reset);
  };
  parts.synchronize_device = [train_device] {
    SynchronizeDevice(train_device);
  };
  parts.scalars = tensorboard.get();
  parts.log = log.get();
  parts.collectives = &world;
  parts.grad_scaler = grad_scaler.get();
  parts.stop_requested = run.stop_requested;
  Trainer trainer(TrainerOptionsFromConfig(e, mode, run), parts);

  if (run.benchmark_steps > 0) {
    // The trace covers the steps the median is taken over.
    std::optional<ProfileTrace> profile;
    std::function<void()> start_trace;
    if (!run.profile_trace.empty()) {
      start_trace = [&] { profile.emplace(run.profile_trace); };
    }
    absl::StatusOr<BenchmarkResult> result =
        trainer.Benchmark(run.benchmark_steps, start_trace);
    const absl::Status trace_written =
        profile ? profile->Finish() : absl::OkStatus();
    SAM2_RETURN_IF_ERROR(result);
    SAM2_RETURN_IF_ERROR(trace_written);
    // The first step warms up allocators and caches: not in the median.
    std::vector<double> steps(result->step_seconds.begin() +
                                  (result->step_seconds.size() > 1 ? 1 : 0),
                              result->step_seconds.end());
    std::vector<double> syncs(result->sync_seconds.begin() +
                                  (result->sync_seconds.size() > 1 ? 1 : 0),
                              result->sync_seconds.end());
    // Rank 0 speaks for the ranks (they run the same steps in lockstep).
    if (!world.is_main()) return RunOutcome();
    std::printf("median_data_s %.4f\n", Median(result->data_seconds));
    if (world.world_size() > 1) {
      // The gradient sync's share of the step (sync included in the step).
      const double step = Median(steps), sync = Median(syncs);
      std::printf("median_sync_s %.4f\nsync_share %.3f\n", sync,
                  step > 0 ? sync / step : 0.0);
    }
    if (result->peak_device_mb) {
      std::printf("peak_gpu_mb %.1f\n", *result->peak_device_mb);
    }
    std::printf("peak_rss_mb %.1f\n", result->peak_rss_mb);
    std::printf("median_step_s %.4f\n", Median(steps));
    return RunOutcome();
  }
  SAM2_RETURN_IF_ERROR(trainer.Run());
  if (trainer.preempted()) {
    return RunOutcome{true, trainer.stop_reason()};
  }
  const std::vector<double>& losses = trainer.step_losses();
  if (!losses.empty()) {
    const size_t k = std::min<size_t>(10, losses.size());
    const double first =
        std::accumulate(losses.begin(), losses.begin() + k, 0.0) / k;
    const double last =
        std::accumulate(losses.end() - k, losses.end(), 0.0) / k;
    log->Info(absl::StrFormat(
        "Done: %d steps; mean core_loss of the first %d steps %.4f, of the "
        "last %d steps %.4f",
        trainer.state().step, k, first, k, last));
  }
  return RunOutcome();
}

}  // namespace sam2::training
