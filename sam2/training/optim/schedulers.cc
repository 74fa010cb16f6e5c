#include "sam2/training/optim/schedulers.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "configs/choices.h"

namespace sam2::training::optim {
namespace {
// fvcore's tolerance when comparing `where` with boundaries.
constexpr double kWhereEpsilon = 1e-6;
}  // namespace

double CosineScheduler::operator()(double where) const {
  return end_ + 0.5 * (start_ - end_) * (1 + std::cos(M_PI * where));
}

double LinearScheduler::operator()(double where) const {
  return end_ * where + start_ * (1 - where);
}

double ExponentialScheduler::operator()(double where) const {
  return start_ * std::pow(decay_, where);
}

double PolynomialDecayScheduler::operator()(double where) const {
  return base_ * std::pow(1 - where, power_);
}

std::unique_ptr<Scheduler> MakeStepWithFixedGamma(double base, int num_decays,
                                                  double gamma,
                                                  int num_updates) {
  std::vector<double> values = {base};
  for (int i = 0; i < num_decays; ++i) values.push_back(values.back() * gamma);
  return std::make_unique<StepScheduler>(num_updates, std::move(values));
}

MultiStepScheduler::MultiStepScheduler(std::vector<double> values,
                                       int num_updates,
                                       std::vector<int> milestones)
    : values_(std::move(values)),
      num_updates_(num_updates),
      milestones_(std::move(milestones)) {
  if (num_updates_ <= 0 && !milestones_.empty()) {
    // fvcore: without num_updates the last milestone is the end.
    num_updates_ = milestones_.back();
    milestones_.pop_back();
  } else if (milestones_.empty()) {
    // fvcore: equally spaced, ceil(num_updates / len(values)) apart.
    const int width = static_cast<int>(
        std::ceil(num_updates_ / static_cast<double>(values_.size())));
    for (size_t i = 1; i < values_.size(); ++i) {
      milestones_.push_back(width * static_cast<int>(i));
    }
  }
}

double MultiStepScheduler::operator()(double where) const {
  // fvcore: bisect_right(milestones, int((where + eps) * num_updates)).
  const int update = static_cast<int>((where + kWhereEpsilon) * num_updates_);
  size_t index = 0;
  while (index < milestones_.size() && milestones_[index] <= update) ++index;
  return values_[std::min(index, values_.size() - 1)];
}

double StepScheduler::operator()(double where) const {
  // fvcore ignores num_updates: the values split [0, 1) evenly.
  const size_t index =
      static_cast<size_t>((where + kWhereEpsilon) * values_.size());
  return values_[std::min(index, values_.size() - 1)];
}

double CompositeScheduler::operator()(double where) const {
  size_t i = 0;
  double running = lengths_[0];
  while (where + kWhereEpsilon > running && i + 1 < schedulers_.size()) {
    ++i;
    running += lengths_[i];
  }
  double local = where;
  if (rescaled_[i]) local = (where - (running - lengths_[i])) / lengths_[i];
  return (*schedulers_[i])(local);
}

absl::StatusOr<std::unique_ptr<Scheduler>> BuildScheduler(
    const config::SchedulerConfig& c, const std::string& path) {
  using config::SchedulerConfig;
  switch (c.kind_case()) {
    case SchedulerConfig::kConstant:
      return std::unique_ptr<Scheduler>(
          std::make_unique<ConstantScheduler>(c.constant().value()));
    case SchedulerConfig::kCosine:
      return std::unique_ptr<Scheduler>(std::make_unique<CosineScheduler>(
          c.cosine().start_value(), c.cosine().end_value()));
    case SchedulerConfig::kLinear:
      return std::unique_ptr<Scheduler>(std::make_unique<LinearScheduler>(
          c.linear().start_value(), c.linear().end_value()));
    case SchedulerConfig::kMultiStep: {
      const auto& m = c.multi_step();
      if (m.values().empty()) {
        return absl::InvalidArgumentError(path + ".multi_step: no values");
      }
      return std::unique_ptr<Scheduler>(std::make_unique<MultiStepScheduler>(
          std::vector<double>(m.values().begin(), m.values().end()),
          m.num_updates(),
          std::vector<int>(m.milestones().begin(), m.milestones().end())));
    }
    case SchedulerConfig::kStep:
      if (c.step().values().empty() || c.step().num_updates() <= 0) {
        return absl::InvalidArgumentError(
            path + ".step: needs values and num_updates > 0");
      }
      return std::unique_ptr<Scheduler>(std::make_unique<StepScheduler>(
          c.step().num_updates(),
          std::vector<double>(c.step().values().begin(),
                              c.step().values().end())));
    case SchedulerConfig::kComposite: {
      const auto& comp = c.composite();
      std::vector<std::unique_ptr<Scheduler>> parts;
      std::vector<bool> rescaled;
      for (int i = 0; i < comp.schedulers_size(); ++i) {
        auto part = BuildScheduler(
            comp.schedulers(i),
            absl::StrCat(path, ".composite.schedulers[", i, "]"));
        if (!part.ok()) return part.status();
        parts.push_back(std::move(*part));
        config::IntervalScaling scaling = config::IntervalScaling::kRescaled;
        if (i < comp.interval_scaling_size()) {
          SAM2_ASSIGN_OR_RETURN_CONTEXT(
              scaling,
              config::ParseChoice<config::IntervalScaling>(
                  comp.interval_scaling(i)),
              path, ".composite.interval_scaling[", i, "]");
        }
        rescaled.push_back(scaling == config::IntervalScaling::kRescaled);
      }
      if (parts.empty() ||
          comp.lengths_size() != static_cast<int>(parts.size())) {
        return absl::InvalidArgumentError(
            path + ".composite: needs one length per scheduler");
      }
      std::vector<double> lengths(comp.lengths().begin(), comp.lengths().end());
      // fvcore: the last length absorbs the rounding of the sum to 1.
      double others = 0;
      for (size_t i = 0; i + 1 < lengths.size(); ++i) others += lengths[i];
      lengths.back() = 1.0 - others;
      return std::unique_ptr<Scheduler>(std::make_unique<CompositeScheduler>(
          std::move(parts), std::move(lengths), std::move(rescaled)));
    }
    case SchedulerConfig::kExponential:
      return std::unique_ptr<Scheduler>(std::make_unique<ExponentialScheduler>(
          c.exponential().start_value(), c.exponential().decay()));
    case SchedulerConfig::kPolynomialDecay:
      return std::unique_ptr<Scheduler>(
          std::make_unique<PolynomialDecayScheduler>(
              c.polynomial_decay().base_value(), c.polynomial_decay().power()));
    case SchedulerConfig::kStepWithFixedGamma: {
      const auto& g = c.step_with_fixed_gamma();
      if (g.base_value() <= 0 || g.gamma() <= 0 || g.num_decays() <= 0 ||
          g.num_updates() <= 0) {
        return absl::InvalidArgumentError(
            path +
            ".step_with_fixed_gamma: needs base_value, gamma, num_decays and "
            "num_updates > 0");
      }
      return MakeStepWithFixedGamma(g.base_value(), g.num_decays(), g.gamma(),
                                    g.num_updates());
    }
    case SchedulerConfig::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(path + ": no scheduler");
}

}  // namespace sam2::training::optim
