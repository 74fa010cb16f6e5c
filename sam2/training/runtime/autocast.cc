#include "sam2/training/runtime/autocast.h"

#include <ATen/autocast_mode.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include "absl/strings/str_cat.h"

// LibTorch >= 2.4 has set_autocast_enabled(device_type, ...); older versions
// have one function per device type.
#if TORCH_VERSION_MAJOR > 2 || \
    (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SAM2_AUTOCAST_PER_DEVICE_TYPE_API 1
#else
#define SAM2_AUTOCAST_PER_DEVICE_TYPE_API 0
#endif

namespace sam2::training {
namespace {

void CheckDeviceType(c10::DeviceType t) {
  TORCH_CHECK(t == c10::DeviceType::CUDA || t == c10::DeviceType::CPU,
              "autocast: unsupported device type ", t);
}

void SetEnabled(c10::DeviceType t, bool enabled) {
#if SAM2_AUTOCAST_PER_DEVICE_TYPE_API
  at::autocast::set_autocast_enabled(t, enabled);
#else
  if (t == c10::DeviceType::CUDA) {
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_cpu_enabled(enabled);
  }
#endif
}

void SetDtype(c10::DeviceType t, c10::ScalarType dtype) {
#if SAM2_AUTOCAST_PER_DEVICE_TYPE_API
  at::autocast::set_autocast_dtype(t, dtype);
#else
  if (t == c10::DeviceType::CUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
}

}  // namespace

bool AutocastEnabled(c10::DeviceType t) {
  CheckDeviceType(t);
#if SAM2_AUTOCAST_PER_DEVICE_TYPE_API
  return at::autocast::is_autocast_enabled(t);
#else
  return t == c10::DeviceType::CUDA ? at::autocast::is_enabled()
                                    : at::autocast::is_cpu_enabled();
#endif
}

c10::ScalarType AutocastDtype(c10::DeviceType t) {
  CheckDeviceType(t);
#if SAM2_AUTOCAST_PER_DEVICE_TYPE_API
  return at::autocast::get_autocast_dtype(t);
#else
  return t == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype()
                                    : at::autocast::get_autocast_cpu_dtype();
#endif
}

c10::ScalarType AmpScalarType(config::AmpDtype dtype) {
  switch (dtype) {
    case config::AmpDtype::kBfloat16:
      return c10::ScalarType::BFloat16;
    case config::AmpDtype::kFloat16:
      break;
  }
  return c10::ScalarType::Half;
}

// Mirrors torch.autocast.__enter__/__exit__: set the state, count the nesting,
// and drop the cache of casted weights when the outermost scope closes.
AutocastScope::AutocastScope(bool enabled, c10::DeviceType device_type,
                             c10::ScalarType dtype)
    : enabled_(enabled), device_type_(device_type) {
  if (!enabled_) return;
  previous_enabled_ = AutocastEnabled(device_type_);
  previous_dtype_ = AutocastDtype(device_type_);
  SetDtype(device_type_, dtype);
  SetEnabled(device_type_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  SetEnabled(device_type_, previous_enabled_);
  SetDtype(device_type_, previous_dtype_);
}

}  // namespace sam2::training
