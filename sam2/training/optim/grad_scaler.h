// Dynamic loss scaling as the reference's torch.amp.GradScaler, which its
// trainer enables whenever optim.amp is enabled (bfloat16 included): the loss
// is multiplied by `scale` before backward, gradients are divided by it before
// clipping, a step whose gradients hold inf/NaN is skipped and the scale
// halved, and after `growth_interval` clean steps in a row the scale doubles.
// Device-agnostic: it only uses tensor ops on the gradients.
#ifndef SAM2_TRAINING_OPTIM_GRAD_SCALER_H_
#define SAM2_TRAINING_OPTIM_GRAD_SCALER_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace sam2::training::optim {

struct GradScalerOptions {
  // torch.amp.GradScaler's defaults.
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {});

  double scale() const { return scale_; }
  int64_t growth_tracker() const { return growth_tracker_; }

  // Divides every defined gradient of `params` by the scale in place; returns
  // whether any of them holds inf or NaN.
  bool UnscaleAndCheck(const std::vector<at::Tensor>& params) const;

  // After the step (taken or skipped): back off on overflow, grow after
  // growth_interval clean steps.
  void Update(bool found_inf);

  // For checkpoints: resume continues with the same scale and count.
  void Restore(double scale, int64_t growth_tracker);

 private:
  GradScalerOptions options_;
  double scale_;
  int64_t growth_tracker_ = 0;
};

}  // namespace sam2::training::optim

#endif  // SAM2_TRAINING_OPTIM_GRAD_SCALER_H_
