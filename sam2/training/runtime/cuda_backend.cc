#include "sam2/training/runtime/cuda_backend.h"

#include <ATen/Context.h>

#include "absl/strings/str_cat.h"

namespace sam2::training {
namespace {

const char* OnOff(bool on) { return on ? "on" : "off"; }

}  // namespace

CudaBackendSettings CudaBackendSettingsFromConfig(const config::CudaConfig& c) {
  CudaBackendSettings s;
  s.cudnn_deterministic = c.cudnn_deterministic();
  s.cudnn_benchmark = c.cudnn_benchmark();
  s.matmul_allow_tf32 =
      c.has_matmul_allow_tf32() ? c.matmul_allow_tf32() : c.allow_tf32();
  s.cudnn_allow_tf32 =
      c.has_cudnn_allow_tf32() ? c.cudnn_allow_tf32() : c.allow_tf32();
  return s;
}

void ApplyCudaBackendSettings(const CudaBackendSettings& settings) {
  at::Context& context = at::globalContext();
  context.setDeterministicCuDNN(settings.cudnn_deterministic);
  context.setBenchmarkCuDNN(settings.cudnn_benchmark);
  context.setAllowTF32CuBLAS(settings.matmul_allow_tf32);
  context.setAllowTF32CuDNN(settings.cudnn_allow_tf32);
}

std::string DescribeCudaBackendSettings(const CudaBackendSettings& settings) {
  return absl::StrCat("cuDNN benchmark ", OnOff(settings.cudnn_benchmark),
                      ", deterministic ", OnOff(settings.cudnn_deterministic),
                      ", TF32 matmul ", OnOff(settings.matmul_allow_tf32),
                      ", TF32 cuDNN ", OnOff(settings.cudnn_allow_tf32));
}

}  // namespace sam2::training
