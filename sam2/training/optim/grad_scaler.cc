#include "sam2/training/optim/grad_scaler.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace sam2::training::optim {

GradScaler::GradScaler(GradScalerOptions options)
    : options_(options), scale_(options.init_scale) {
  TORCH_CHECK(options_.init_scale > 0 && options_.growth_factor > 1 &&
                  options_.backoff_factor > 0 && options_.backoff_factor < 1 &&
                  options_.growth_interval > 0,
              "GradScaler: invalid options");
}

bool GradScaler::UnscaleAndCheck(const std::vector<at::Tensor>& params) const {
  // Like torch: the reciprocal in double, rounded to float32.
  const double inverse = static_cast<float>(1.0 / scale_);
  at::Tensor found;
  for (const at::Tensor& p : params) {
    at::Tensor grad = p.grad();
    if (!grad.defined()) continue;
    grad.mul_(inverse);
    at::Tensor bad = grad.isfinite().logical_not().any();
    found = found.defined() ? found.logical_or(bad) : bad;
  }
  // One device-to-host copy for all gradients.
  return found.defined() && found.item<bool>();
}

void GradScaler::Update(bool found_inf) {
  if (found_inf) {
    scale_ *= options_.backoff_factor;
    growth_tracker_ = 0;
    return;
  }
  if (++growth_tracker_ == options_.growth_interval) {
    scale_ *= options_.growth_factor;
    growth_tracker_ = 0;
  }
}

void GradScaler::Restore(double scale, int64_t growth_tracker) {
  TORCH_CHECK(scale > 0 && growth_tracker >= 0, "GradScaler: bad state");
  scale_ = scale;
  growth_tracker_ = growth_tracker;
}

}  // namespace sam2::training::optim
