// The reference's optimizer (training/optimizer.py construct_optimizer +
// torch.optim.AdamW): parameter groups from the config's per-hyper-parameter
// options (fnmatch patterns on names, module classes, one default), layer-wise
// lr decay, schedules driven by training progress, gradient clipping by total
// norm, and AdamW's update exactly as PyTorch 1.13's single-tensor path.
#ifndef SAM2_TRAINING_OPTIM_ADAMW_H_
#define SAM2_TRAINING_OPTIM_ADAMW_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "configs/experiment.pb.h"
#include "sam2/training/loop/trainer.h"
#include "sam2/training/optim/schedulers.h"

namespace sam2::training::optim {

// A parameter with the class of the module that directly owns it (LibTorch's
// module name(), e.g. "torch::nn::LayerNormImpl").
struct NamedParameter {
  std::string name;
  at::Tensor param;
  std::string module_class;
};

// Every parameter of `model`, in named_parameters() order, with its owner's
// class.
std::vector<NamedParameter> EnumerateParameters(const torch::nn::Module& model);

// The class name a config's module_cls_names entry means in LibTorch:
// "torch.nn.LayerNorm" -> "torch::nn::LayerNormImpl"; other names are kept.
std::string ModuleClassFromConfig(const std::string& config_name);

// Hiera's get_layer_id for layer-wise lr decay (`num_blocks` trunk blocks).
int HieraLayerId(const std::string& name, int num_blocks);

struct ParamGroup {
  std::vector<size_t> params;  // indices into the parameter list
  // Null: the optimizer's default (lr 1e-3, weight_decay 1e-2 as
  // torch.optim.AdamW).
  std::shared_ptr<const Scheduler> lr;
  std::shared_ptr<const Scheduler> weight_decay;
  double lr_value = 1e-3;
  double weight_decay_value = 1e-2;
};

// construct_optimizer's grouping. Errors name the parameter or the config
// entry: a pattern or class that matches nothing, two entries of one
// hyper-parameter claiming the same parameter, more than one default.
absl::StatusOr<std::vector<ParamGroup>> BuildParamGroups(
    const std::vector<NamedParameter>& params,
    const config::OptimConfig& config);

class AdamW : public TrainOptimizer {
 public:
  // Every parameter of `model`, in named_parameters() order (the
  // reference's construct_optimizer groups frozen ones too; they never get a
  // gradient, so they never move). Parameters matching
  // optim.frozen_param_patterns are frozen here.
  static absl::StatusOr<std::unique_ptr<AdamW>> Create(
      torch::nn::Module& model, const config::OptimConfig& config);
  static absl::StatusOr<std::unique_ptr<AdamW>> Create(
      std::vector<NamedParameter> params, const config::OptimConfig& config);

  void ZeroGrad() override;
  void SetProgress(double where) override;
  double ClipGradients() override;
  void Step() override;
  std::vector<at::Tensor> Parameters() override;
  std::vector<std::pair<std::string, at::Tensor>> NamedParameters() override;
  std::vector<std::pair<std::string, double>> HyperParameters() const override;
  NamedTensors State() const override;
  absl::Status LoadState(const NamedTensors& state) override;

  // Every parameter, trainable or not; groups()' indices point into it.
  const std::vector<NamedParameter>& params() const { return params_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }
  // Current lr / weight decay of a parameter (tests, logs).
  absl::StatusOr<std::pair<double, double>> HyperParametersOf(
      const std::string& name) const;

 private:
  AdamW(std::vector<NamedParameter> params, std::vector<ParamGroup> groups,
        const config::OptimConfig& config);

  struct ParamState {
    at::Tensor exp_avg, exp_avg_sq;
    double step = 0;
  };
  std::vector<NamedParameter> params_;
  std::vector<ParamGroup> groups_;
  std::vector<ParamState> state_;
  double beta1_, beta2_, eps_;
  double clip_max_norm_;  // <= 0: no clipping
  double clip_norm_type_;
};

}  // namespace sam2::training::optim

#endif  // SAM2_TRAINING_OPTIM_ADAMW_H_
