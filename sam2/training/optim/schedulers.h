// Parameter schedulers with fvcore's semantics (fvcore.common.param_scheduler,
// which the reference's configs use): a value as a function of the training
// progress `where` in [0, 1).
#ifndef SAM2_TRAINING_OPTIM_SCHEDULERS_H_
#define SAM2_TRAINING_OPTIM_SCHEDULERS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "configs/experiment.pb.h"

namespace sam2::training::optim {

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual double operator()(double where) const = 0;
};

class ConstantScheduler : public Scheduler {
 public:
  explicit ConstantScheduler(double value) : value_(value) {}
  double operator()(double) const override { return value_; }

 private:
  double value_;
};

class CosineScheduler : public Scheduler {
 public:
  CosineScheduler(double start, double end) : start_(start), end_(end) {}
  double operator()(double where) const override;

 private:
  double start_, end_;
};

class LinearScheduler : public Scheduler {
 public:
  LinearScheduler(double start, double end) : start_(start), end_(end) {}
  double operator()(double where) const override;

 private:
  double start_, end_;
};

// values[i] from milestone[i-1] to milestone[i] (in updates out of
// num_updates); without milestones, equal spans.
class MultiStepScheduler : public Scheduler {
 public:
  MultiStepScheduler(std::vector<double> values, int num_updates,
                     std::vector<int> milestones);
  double operator()(double where) const override;

 private:
  std::vector<double> values_;
  int num_updates_;
  std::vector<int> milestones_;
};

// values[int((where + eps) * len(values))] (num_updates is not used).
class StepScheduler : public Scheduler {
 public:
  StepScheduler(int num_updates, std::vector<double> values)
      : num_updates_(num_updates), values_(std::move(values)) {}
  double operator()(double where) const override;

 private:
  int num_updates_;
  std::vector<double> values_;
};

// start * decay ** where.
class ExponentialScheduler : public Scheduler {
 public:
  ExponentialScheduler(double start, double decay)
      : start_(start), decay_(decay) {}
  double operator()(double where) const override;

 private:
  double start_, decay_;
};

// base * (1 - where) ** power.
class PolynomialDecayScheduler : public Scheduler {
 public:
  PolynomialDecayScheduler(double base, double power)
      : base_(base), power_(power) {}
  double operator()(double where) const override;

 private:
  double base_, power_;
};

// fvcore's StepWithFixedGammaParamScheduler: a StepScheduler over base,
// base * gamma, ..., num_decays + 1 values, each the previous times gamma (as
// fvcore builds them, not gamma ** i: the roundings differ).
std::unique_ptr<Scheduler> MakeStepWithFixedGamma(double base, int num_decays,
                                                  double gamma,
                                                  int num_updates);

// Sub-schedulers over consecutive fractions of training; "rescaled" ones see
// their own progress in [0, 1), "fixed" ones the global `where`.
class CompositeScheduler : public Scheduler {
 public:
  CompositeScheduler(std::vector<std::unique_ptr<Scheduler>> schedulers,
                     std::vector<double> lengths, std::vector<bool> rescaled)
      : schedulers_(std::move(schedulers)),
        lengths_(std::move(lengths)),
        rescaled_(std::move(rescaled)) {}
  double operator()(double where) const override;

 private:
  std::vector<std::unique_ptr<Scheduler>> schedulers_;
  std::vector<double> lengths_;
  std::vector<bool> rescaled_;
};

// The reference's ValueScaler: another scheduler's value times a factor
// (layer-wise lr decay).
class ScaledScheduler : public Scheduler {
 public:
  ScaledScheduler(std::shared_ptr<const Scheduler> base, double factor)
      : base_(std::move(base)), factor_(factor) {}
  double operator()(double where) const override {
    return (*base_)(where)*factor_;
  }

 private:
  std::shared_ptr<const Scheduler> base_;
  double factor_;
};

// Errors name `path` (the config field).
absl::StatusOr<std::unique_ptr<Scheduler>> BuildScheduler(
    const config::SchedulerConfig& config, const std::string& path);

}  // namespace sam2::training::optim

#endif  // SAM2_TRAINING_OPTIM_SCHEDULERS_H_
