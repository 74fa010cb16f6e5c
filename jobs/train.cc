// train: trains or fine-tunes SAM 2 as an experiment config says.
//
//   bazel run -c opt //jobs:train -- --config=demo
//   bazel run -c opt //jobs:train -- --config=mose --set='...'
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "base/torch_errors.h"
#include "configs/cli.h"
#include "configs/loader.h"
#include "distributed/collectives.h"
#include "distributed/mpi_world.h"
#include "sam2/training/experiment.h"
#include "sam2/training/launch_check.h"
#include "sam2/training/runtime/preemption.h"
#ifdef SAM2_WITH_CUDA
#include "distributed/nccl_collectives.h"
#endif

namespace {

constexpr char kUsage[] =
    R"(usage: train --config=NAME|FILE [--set=TEXT ...] [flags]

Trains (or fine-tunes, or validates) SAM 2 as the experiment config says:
the model, SAM2Train's prompt simulation, the MultiStepMultiMasksAndIous
loss, AdamW with the recipe's parameter groups and schedules, and the data
pipeline. Configs live in configs/ (demo, mose, ...); see README.md.

A run writes under launcher.experiment_log_dir (default ./sam2_logs/NAME):
  config.pbtxt    the resolved config, exactly what ran
  logs/           log.txt, train_stats.json, val_stats.json, best_stats.json
                  (the best validation of checkpoint.save_best_meter),
                  val_pictures/epoch_<E>/<video>.png (data.val_vos overlays)
  tensorboard/    TensorBoard event files (scalars, val_pictures images)
  checkpoints/    checkpoint.pt (and checkpoint_<epoch>.pt per save_freq),
                  checkpoint_best.pt (the best validation's epoch)
If checkpoints/checkpoint.pt exists the run resumes from it, exactly where it
stopped (same batches, same random draws). With data.val_vos, validation
runs VOS inference on those videos and logs J, F and J&F (as sav_eval).

Examples:
  train --config=demo
  train --config=mose --set='data { train { datasets { concat { png {
      img_folder: "/data/MOSE/JPEGImages" gt_folder: "/data/MOSE/Annotations"
      } } } } }' --set='checkpoint { model_weight_initializer {
      checkpoint_path: "/ckpt/sam2.1_hiera_base_plus.pt" } }'
  train --config=demo --benchmark_steps=20)";

const std::vector<sam2::config::FlagSpec>& JobFlags() {
  static const auto* flags = new std::vector<sam2::config::FlagSpec>{
      {"benchmark_steps", "N",
       "run N training steps on the config's data without checkpoints and "
       "print timings; the last two lines are 'peak_rss_mb X' and "
       "'median_step_s X' (forward, loss, backward, clip, optimizer step; "
       "on a GPU the largest step's 'peak_gpu_mb X' comes before them; on "
       "several ranks rank 0 prints, with 'median_sync_s X' and 'sync_share "
       "X', the gradient sync's part of the step)",
       "0"},
      {"profile_trace", "FILE",
       "with --benchmark_steps: also write a Chrome trace (chrome://tracing, "
       "Perfetto) of every LibTorch operator of the steps after the first, "
       "with its input shapes, to FILE",
       ""},
      {"stop_after_steps", "N",
       "stop after N optimizer steps as a preempted job would (checkpoints "
       "as configured); for testing resume",
       "0"},
      {"validate_only", "", "load and validate the config, then exit", ""},
  };
  return *flags;
}

// This process's command line for advice messages: the binary's real path
// (under `bazel run` argv[0] is a runfiles path) and the arguments.
std::vector<std::string> CommandLine(int argc, char** argv) {
  std::vector<std::string> command;
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  command.push_back(n > 0 ? std::string(exe, static_cast<size_t>(n))
                          : std::string(argv[0]));
  for (int i = 1; i < argc; ++i) command.push_back(argv[i]);
  return command;
}

// A failure on one rank ends every rank (MPI_Abort) with its message; a
// lone process just exits.
int Fail(sam2::distributed::Collectives* world, const std::string& message) {
  // One write per message, so that ranks sharing a terminal do not
  // interleave their lines.
  std::string text;
  if (world != nullptr && world->world_size() > 1) {
    text =
        absl::StrCat("train: rank ", world->rank(), " of ", world->world_size(),
                     ": ", message, "\ntrain: ending every rank\n");
  } else {
    text = absl::StrCat("train: ", message, "\n");
  }
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
  if (world != nullptr && world->world_size() > 1) world->Abort(1);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sam2;
  // SIGUSR1 / SIGTERM (preemption, wall time): checkpoint at the next step
  // boundary and exit 0; under SLURM with --requeue, requeue the job. First,
  // so that no other thread (MPI's, OpenMP's) is interrupted by them.
  training::InstallStopSignalHandlers();
  int exit_code = 0;
  std::optional<config::CommandLine> cl =
      config::ParseJobCommandLine("train", kUsage, argc, argv, JobFlags(),
                                  /*allow_positional=*/false, &exit_code);
  if (!cl) return exit_code;
  absl::StatusOr<config::LoadedExperiment> loaded =
      config::LoadExperiment({cl->config, cl->sets, {}});
  if (!loaded.ok()) {
    std::cerr << loaded.status().message() << "\n";
    return 1;
  }
  if (cl->print_config) {
    std::cout << config::ToText(loaded->experiment);
    return 0;
  }
  // Everything is checked before any work starts.
  if (absl::Status valid = config::ValidateExperiment(*loaded); !valid.ok()) {
    std::cerr << valid.message() << "\n";
    return 1;
  }
  if (cl->Has("validate_only")) {
    std::cerr << loaded->path << ": valid\n";
    return 0;
  }
  training::RunOptions options;
  for (const char* flag : {"benchmark_steps", "stop_after_steps"}) {
    absl::StatusOr<int64_t> v = cl->GetInt(flag);
    if (!v.ok() || *v < 0) {
      std::cerr << "train: --" << flag << " must be a non-negative integer\n";
      return 2;
    }
    (std::string(flag) == "benchmark_steps" ? options.benchmark_steps
                                            : options.stop_after_steps) = *v;
  }
  options.profile_trace = cl->Get("profile_trace");
  if (!options.profile_trace.empty() && options.benchmark_steps == 0) {
    std::cerr << "train: --profile_trace needs --benchmark_steps\n";
    return 2;
  }
  // One process, or the MPI world when mpirun / srun started this one.
  const bool under_launcher =
      distributed::StartedByMpiLauncher(distributed::CurrentEnvironment());
  absl::StatusOr<std::unique_ptr<distributed::Collectives>> created =
      distributed::InitWorld();
  if (!created.ok())
    return Fail(nullptr, std::string(created.status().message()));
  std::unique_ptr<distributed::Collectives> world = *std::move(created);
  // The recipe's world, or a message with the command that starts it.
  if (absl::Status s = training::CheckWorldMatchesLauncher(
          loaded->experiment,
          {world->world_size(), world->num_nodes(), under_launcher},
          CommandLine(argc, argv));
      !s.ok()) {
    return Fail(world.get(), absl::StrCat("launcher: ", s.message()));
  }
#ifdef SAM2_WITH_CUDA
  // CUDA tensors go through NCCL, bootstrapped over the host world.
  if (loaded->experiment.trainer().accelerator() == "cuda") {
    absl::StatusOr<std::unique_ptr<distributed::Collectives>> nccl =
        distributed::WithNccl(std::move(world));
    if (!nccl.ok()) return Fail(nullptr, std::string(nccl.status().message()));
    world = *std::move(nccl);
  }
#endif
  options.stop_requested = [] { return training::StopSignalReceived(); };
  // The one place where a LibTorch exception that escaped the run's own
  // boundaries becomes a message and an exit code.
  absl::StatusOr<training::RunOutcome> outcome = base::CallCatchingTorchErrors(
      "", [&] { return training::RunExperiment(*loaded, options, *world); });
  if (!outcome.ok()) {
    return Fail(world.get(), std::string(outcome.status().message()));
  }
  if (outcome->preempted && world->is_main()) {
    const training::SlurmJob job =
        training::SlurmJobFromEnvironment(distributed::CurrentEnvironment());
    std::string what = "checkpointed; run the same command to resume";
    if (job.present) {
      absl::StatusOr<bool> requeued = training::RequeueSlurmJob(job);
      if (!requeued.ok()) {
        what = absl::StrCat("checkpointed; requeueing failed: ",
                            requeued.status().message());
      } else if (*requeued) {
        what = absl::StrCat("checkpointed; SLURM job ", job.job_id,
                            " requeued (it resumes where it stopped)");
      } else {
        what = absl::StrCat("checkpointed; SLURM job ", job.job_id,
                            " is not requeueable (sbatch --requeue)");
      }
    }
    const std::string text = absl::StrCat(
        "train: stopped on ", outcome->stop_reason, ": ", what, "\n");
    std::fwrite(text.data(), 1, text.size(), stderr);
  }
  return 0;
}
