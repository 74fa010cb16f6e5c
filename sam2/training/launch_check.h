// Whether the world that is running is the one the config's launcher section
// asks for (num_nodes x gpus_per_node ranks). A recipe is never trained
// silently on another world: its global batch (ranks x accumulation x batch
// size) and so its results would change. The error gives the exact command
// that starts the ranks, and how to keep the global batch on fewer GPUs.
#ifndef SAM2_TRAINING_LAUNCH_CHECK_H_
#define SAM2_TRAINING_LAUNCH_CHECK_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "configs/experiment.pb.h"

namespace sam2::training {

struct RunningWorld {
  int world_size = 1;
  int num_nodes = 1;
  bool under_launcher = false;  // mpirun / srun started this process
};

// `command` is this process's command line (argv), quoted into the advice.
absl::Status CheckWorldMatchesLauncher(const config::Experiment& experiment,
                                       const RunningWorld& world,
                                       const std::vector<std::string>& command);

// `args` as one shell command line (single quotes where needed).
std::string ShellQuote(const std::vector<std::string>& args);

}  // namespace sam2::training

#endif  // SAM2_TRAINING_LAUNCH_CHECK_H_
