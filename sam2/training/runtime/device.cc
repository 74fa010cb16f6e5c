#include "sam2/training/runtime/device.h"

#include <dlfcn.h>
#include <torch/cuda.h>

#ifdef SAM2_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "absl/strings/str_cat.h"
#include "third_party/blas/onednn_sgemm.h"

namespace sam2::training {

absl::StatusOr<c10::Device> ResolveDevice(config::Accelerator accelerator,
                                          int local_rank) {
  if (accelerator == config::Accelerator::kCpu) {
    return c10::Device(c10::DeviceType::CPU);
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

std::optional<double> PeakDeviceMemoryMb(const c10::Device& device,
                                         bool reset_peak) {
#ifdef SAM2_WITH_CUDA
  if (device.is_cuda()) {
    namespace allocator = c10::cuda::CUDACachingAllocator;
    const auto stats = allocator::getDeviceStats(device.index());
    // Index 0 is StatType::AGGREGATE (all pools) in LibTorch 1.13 and 2.x;
    // the enum's namespace moved between versions, its order did not.
    const double peak_mb =
        static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0);
    if (reset_peak) allocator::resetPeakStats(device.index());
    return peak_mb;
  }
#endif
  return std::nullopt;
}

void SynchronizeDevice(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

namespace {

// Looked up rather than linked: the libblas.so.3 alternative may be a BLAS
// without these functions.
template <typename Fn>
Fn LookUp(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

}  // namespace

BlasThreading LoadedBlasThreading() {
  auto get_parallel = LookUp<int (*)()>("openblas_get_parallel");
  if (get_parallel == nullptr) return BlasThreading::kNotOpenBlas;
  switch (get_parallel()) {
    case 0:
      return BlasThreading::kSequential;
    case 2:
      return BlasThreading::kOpenMp;
    default:
      return BlasThreading::kPthreads;
  }
}

std::string DescribeBlas() {
  const std::string products =
      absl::StrCat("; float32 matrix products: ", blas::DescribeSgemmRoute());
  auto get_config = LookUp<char* (*)()>("openblas_get_config");
  if (get_config == nullptr) return absl::StrCat("not OpenBLAS", products);
  const char* threading = "";
  switch (LoadedBlasThreading()) {
    case BlasThreading::kSequential:
      threading = " (sequential)";
      break;
    case BlasThreading::kPthreads:
      threading = " (own thread pool)";
      break;
    case BlasThreading::kOpenMp:
      threading = " (OpenMP, shares LibTorch's threads)";
      break;
    case BlasThreading::kNotOpenBlas:
      break;
  }
  return absl::StrCat(get_config(), threading, products);
}

bool SetBlasThreads(int num_threads) {
  if (LoadedBlasThreading() != BlasThreading::kPthreads) return false;
  auto set_threads = LookUp<void (*)(int)>("openblas_set_num_threads");
  if (set_threads == nullptr) return false;
  set_threads(num_threads);
  return true;
}

}  // namespace sam2::training
