#include "sam2/training/device.h"

#include <dlfcn.h>
#include <torch/cuda.h>

#include "absl/strings/str_cat.h"

namespace sam2::training {

absl::StatusOr<c10::Device> ResolveDevice(const std::string& accelerator,
                                          int local_rank) {
  if (accelerator == "cpu") return c10::Device(c10::DeviceType::CPU);
  if (accelerator != "cuda") {
    return absl::InvalidArgumentError(absl::StrCat(
        "trainer.accelerator \"", accelerator, "\": use \"cuda\" or \"cpu\""));
  }
  if (!torch::cuda::is_available()) {
    return absl::FailedPreconditionError(
        "trainer.accelerator is \"cuda\" but no GPU is usable: this binary "
        "must be built against a CUDA LibTorch (bazel build --config=cuda "
        "--repo_env=LIBTORCH_DIR=/path/to/libtorch) and run on a machine with "
        "a GPU; or train on the CPU with --set='trainer { accelerator: "
        "\"cpu\" }'");
  }
  const int count = static_cast<int>(torch::cuda::device_count());
  // Ranks on a node share its GPUs round-robin, one GPU per rank normally.
  return c10::Device(c10::DeviceType::CUDA,
                     static_cast<c10::DeviceIndex>(local_rank % count));
}

bool SetBlasThreads(int num_threads) {
  // Looked up rather than linked: LibTorch reaches OpenBLAS through the
  // libblas.so.3 alternative, which may be another BLAS.
  using SetThreadsFn = void (*)(int);
  auto set_threads = reinterpret_cast<SetThreadsFn>(
      dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set_threads == nullptr) return false;
  set_threads(num_threads);
  return true;
}

}  // namespace sam2::training
