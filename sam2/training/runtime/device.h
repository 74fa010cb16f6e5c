// Which device a run trains on: trainer.accelerator "cpu" or "cuda" (the GPU
// of this process's local rank, as the reference's trainer picks it).
#ifndef SAM2_TRAINING_RUNTIME_DEVICE_H_
#define SAM2_TRAINING_RUNTIME_DEVICE_H_

#include <c10/core/Device.h>

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "configs/choices.h"

namespace sam2::training {

// Errors: kCuda when this binary's LibTorch has no CUDA or the machine no GPU
// (the message says how to fix either).
absl::StatusOr<c10::Device> ResolveDevice(config::Accelerator accelerator,
                                          int local_rank);

// Peak memory that LibTorch's CUDA caching allocator has handed out on a
// CUDA `device` since the previous call with `reset_peak` (the reference's
// meter: torch.cuda.max_memory_allocated, then reset_peak_memory_stats), in
// MB. nullopt for the CPU and in builds without CUDA (--config=cuda).
std::optional<double> PeakDeviceMemoryMb(const c10::Device& device,
                                         bool reset_peak);

// Waits until the work queued on a CUDA `device` is done; nothing on the CPU.
void SynchronizeDevice(const c10::Device& device);

// The BLAS that LibTorch's matrix products run on, found at run time
// (Debian's LibTorch calls it through the libblas.so.3 alternative; jobs
// prefer OpenBLAS's OpenMP build where it is installed, see jobs/BUILD.bazel).
enum class BlasThreading {
  kNotOpenBlas,  // another BLAS: its threads are left alone
  kSequential,   // OpenBLAS without threads
  kPthreads,     // OpenBLAS with its own thread pool
  kOpenMp,       // OpenBLAS on the OpenMP pool that LibTorch also uses
};
BlasThreading LoadedBlasThreading();
std::string DescribeBlas();  // e.g. "OpenBLAS 0.3.21 ... (OpenMP)"

// Sets the size of OpenBLAS's own thread pool (kPthreads). Returns false and
// changes nothing for the other kinds: OpenBLAS's OpenMP build would resize
// the OpenMP pool that LibTorch shares.
bool SetBlasThreads(int num_threads);

}  // namespace sam2::training

#endif  // SAM2_TRAINING_RUNTIME_DEVICE_H_
