// Preemption and wall time: the signals a cluster sends before it stops a
// job (SLURM's --signal=USR1@N, SIGTERM on preemption or scancel) become a
// request the trainer honours at the next step boundary, where every rank
// agrees on it, checkpoints in step and exits cleanly; under SLURM with
// --requeue, rank 0 then requeues the job, which resumes where it stopped.
#ifndef SAM2_TRAINING_RUNTIME_PREEMPTION_H_
#define SAM2_TRAINING_RUNTIME_PREEMPTION_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sam2::training {

// SIGUSR1 and SIGTERM sent to the process set a flag; a second SIGTERM ends
// the process at once (the cluster's last word). The signals are blocked in
// the calling thread and every thread it creates afterwards, and taken by
// one waiting thread: call this first in main(), before any other thread
// starts. Idempotent.
void InstallStopSignalHandlers();
// The signal received since the handlers were installed; 0: none.
int StopSignalReceived();

// The SLURM job this process runs in, from SLURM's variables.
struct SlurmJob {
  bool present = false;  // SLURM_JOB_ID is set
  std::string job_id;
  std::string nodelist;   // SLURM_JOB_NODELIST
  int num_nodes = 0;      // SLURM_JOB_NUM_NODES
  int num_tasks = 0;      // SLURM_NTASKS
  int restart_count = 0;  // SLURM_RESTART_COUNT (0 on the first run)
};
SlurmJob SlurmJobFromEnvironment(const std::map<std::string, std::string>& env);
// "SLURM job 42 (restart 1): 2 tasks on 1 node (localhost)".
std::string DescribeSlurmJob(const SlurmJob& job);

// Requeues `job` (scontrol requeue) when its Requeue flag is set (sbatch
// --requeue, or JobRequeue=1 in slurm.conf); returns whether it did.
// Errors: scontrol failed.
absl::StatusOr<bool> RequeueSlurmJob(const SlurmJob& job);

}  // namespace sam2::training

#endif  // SAM2_TRAINING_RUNTIME_PREEMPTION_H_
