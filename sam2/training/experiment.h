// Runs an experiment config end to end: builds the model, the optimizer, the
// data, the logs and the checkpoint store, initialises from a checkpoint if
// asked, and trains (resuming if a checkpoint exists), validates or
// benchmarks.
#ifndef SAM2_TRAINING_EXPERIMENT_H_
#define SAM2_TRAINING_EXPERIMENT_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "configs/loader.h"
#include "distributed/collectives.h"

namespace sam2::training {

struct RunOptions {
  // > 0: time this many training steps instead of training.
  int64_t benchmark_steps = 0;
  // > 0: stop after this many optimizer steps (as a preempted job).
  int64_t stop_after_steps = 0;
  // With benchmark_steps: Chrome trace of the operators of the timed steps.
  std::string profile_trace;
  // This process's stop request (a signal number; 0: none), polled at every
  // step boundary; may be empty.
  std::function<int()> stop_requested;
};

struct RunOutcome {
  // Training stopped early on a stop request (signal, exit_after_minutes),
  // after checkpointing in step.
  bool preempted = false;
  std::string stop_reason;
};

absl::StatusOr<RunOutcome> RunExperiment(const config::LoadedExperiment& loaded,
                                         const RunOptions& options,
                                         distributed::Collectives& world);

}  // namespace sam2::training

#endif  // SAM2_TRAINING_EXPERIMENT_H_
