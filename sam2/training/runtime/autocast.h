// Mixed precision as the reference's `torch.cuda.amp.autocast(enabled, dtype)`
// around the forward pass and the loss: an RAII scope that turns LibTorch's
// autocast on for one device type and restores the previous state on exit.
//
// LibTorch changed this API in 2.4 (per-device-type functions replaced the
// CUDA/CPU-specific ones); autocast.cc picks the right one at compile time.
#ifndef SAM2_TRAINING_RUNTIME_AUTOCAST_H_
#define SAM2_TRAINING_RUNTIME_AUTOCAST_H_

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

#include <string>

#include "absl/status/statusor.h"
#include "configs/choices.h"

namespace sam2::training {

// The dtype of the reference's optim.amp.amp_dtype.
c10::ScalarType AmpScalarType(config::AmpDtype dtype);

class AutocastScope {
 public:
  // Disabled scopes change nothing. Supported device types: CUDA and CPU.
  AutocastScope(bool enabled, c10::DeviceType device_type,
                c10::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_;
  c10::DeviceType device_type_;
  bool previous_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::ScalarType::Undefined;
};

// Whether autocast is on for `device_type` on this thread, and its dtype.
bool AutocastEnabled(c10::DeviceType device_type);
c10::ScalarType AutocastDtype(c10::DeviceType device_type);

}  // namespace sam2::training

#endif  // SAM2_TRAINING_RUNTIME_AUTOCAST_H_
