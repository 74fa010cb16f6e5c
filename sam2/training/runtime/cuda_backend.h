// The reference trainer's CUDA backend switches (trainer.py
// _setup_torch_dist_and_backend, CudaConf): cuDNN benchmark on, cuDNN
// deterministic off, TF32 off for matrix products and for cuDNN unless the
// config turns it on. LibTorch's own defaults differ (cuDNN benchmark off,
// TF32 allowed in cuDNN), so a CUDA run that did not set these would not
// compute what the reference computes.
#ifndef SAM2_TRAINING_RUNTIME_CUDA_BACKEND_H_
#define SAM2_TRAINING_RUNTIME_CUDA_BACKEND_H_

#include <string>

#include "configs/experiment.pb.h"

namespace sam2::training {

struct CudaBackendSettings {
  bool cudnn_deterministic = false;
  bool cudnn_benchmark = true;
  bool matmul_allow_tf32 = false;
  bool cudnn_allow_tf32 = false;
};

// trainer.cuda with the reference's fall-backs: matmul_allow_tf32 and
// cudnn_allow_tf32 default to allow_tf32.
CudaBackendSettings CudaBackendSettingsFromConfig(const config::CudaConfig& c);

// Sets LibTorch's global context (takes effect for CUDA kernels; harmless
// in CPU builds, where the flags are stored and unused).
void ApplyCudaBackendSettings(const CudaBackendSettings& settings);

// "cuDNN benchmark on, deterministic off, TF32 matmul off, TF32 cuDNN off"
// for the run log.
std::string DescribeCudaBackendSettings(const CudaBackendSettings& settings);

}  // namespace sam2::training

#endif  // SAM2_TRAINING_RUNTIME_CUDA_BACKEND_H_
