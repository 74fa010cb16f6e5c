#include "sam2/training/runtime/preemption.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sam2::training {
namespace {

std::atomic<int> g_stop_signal{0};

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  sigaddset(&set, SIGTERM);
  return set;
}

// The only thread that takes the stop signals, synchronously.
void WatchStopSignals(sigset_t set) {
  for (;;) {
    int signal = 0;
    if (sigwait(&set, &signal) != 0) continue;
    if (signal == SIGTERM && g_stop_signal.load() == SIGTERM) {
      // A second SIGTERM: the cluster will not wait any longer.
      _exit(128 + SIGTERM);
    }
    g_stop_signal.store(signal);
  }
}

std::string Get(const std::map<std::string, std::string>& env,
                const char* name) {
  auto it = env.find(name);
  return it == env.end() ? "" : it->second;
}

int GetInt(const std::map<std::string, std::string>& env, const char* name) {
  int value = 0;
  return absl::SimpleAtoi(Get(env, name), &value) ? value : 0;
}

// Runs `command` and returns its standard output; error when it fails.
absl::StatusOr<std::string> Output(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"),
                                             pclose);
  if (!pipe) return absl::InternalError(absl::StrCat("cannot run ", command));
  std::string out;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) {
    out.append(buffer.data(), n);
  }
  const int status = pclose(pipe.release());
  if (status != 0) {
    return absl::InternalError(
        absl::StrCat(command, " failed (status ", status, "): ", out));
  }
  return out;
}

}  // namespace

void InstallStopSignalHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Blocked here, in the calling thread, and so in every thread it starts
    // later (OpenMP's, oneDNN's, MPI's, the loader's): a signal handler that
    // interrupts oneDNN's JIT GEMM kernels corrupts memory (seen as crashes
    // in autograd after a SIGUSR1, 3 runs in 10). One thread waits for them.
    const sigset_t set = StopSignals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread(WatchStopSignals, set).detach();
  });
}

int StopSignalReceived() { return g_stop_signal.load(); }

SlurmJob SlurmJobFromEnvironment(
    const std::map<std::string, std::string>& env) {
  SlurmJob job;
  job.job_id = Get(env, "SLURM_JOB_ID");
  job.present = !job.job_id.empty();
  job.nodelist = Get(env, "SLURM_JOB_NODELIST");
  job.num_nodes = GetInt(env, "SLURM_JOB_NUM_NODES");
  job.num_tasks = GetInt(env, "SLURM_NTASKS");
  job.restart_count = GetInt(env, "SLURM_RESTART_COUNT");
  return job;
}

std::string DescribeSlurmJob(const SlurmJob& job) {
  if (!job.present) return "not under SLURM";
  return absl::StrCat("SLURM job ", job.job_id, " (restart ", job.restart_count,
                      "): ", job.num_tasks, " task",
                      job.num_tasks == 1 ? "" : "s", " on ", job.num_nodes,
                      " node", job.num_nodes == 1 ? "" : "s", " (",
                      job.nodelist, ")");
}

absl::StatusOr<bool> RequeueSlurmJob(const SlurmJob& job) {
  if (!job.present) return false;
  for (char c : job.job_id) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(
          absl::StrCat("SLURM_JOB_ID '", job.job_id, "' is not a number"));
    }
  }
  absl::StatusOr<std::string> shown =
      Output(absl::StrCat("scontrol show job ", job.job_id, " 2>&1"));
  if (!shown.ok()) return shown.status();
  if (shown->find("Requeue=1") == std::string::npos) return false;
  absl::StatusOr<std::string> requeued =
      Output(absl::StrCat("scontrol requeue ", job.job_id, " 2>&1"));
  if (!requeued.ok()) return requeued.status();
  return true;
}

}  // namespace sam2::training
