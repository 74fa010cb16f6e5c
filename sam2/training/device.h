// Which device a run trains on: trainer.accelerator "cpu" or "cuda" (the GPU
// of this process's local rank, as the reference's trainer picks it).
#ifndef SAM2_TRAINING_DEVICE_H_
#define SAM2_TRAINING_DEVICE_H_

#include <c10/core/Device.h>

#include <string>

#include "absl/status/statusor.h"

namespace sam2::training {

// Errors: an unknown accelerator, or "cuda" when this binary's LibTorch has
// no CUDA or the machine no GPU (the message says how to fix either).
absl::StatusOr<c10::Device> ResolveDevice(const std::string& accelerator,
                                          int local_rank);

// Sets the size of the BLAS library's own thread pool when the BLAS is
// OpenBLAS (found at run time; Debian's LibTorch calls it through libblas).
// Returns false when the loaded BLAS has no such control.
bool SetBlasThreads(int num_threads);

}  // namespace sam2::training

#endif  // SAM2_TRAINING_DEVICE_H_
