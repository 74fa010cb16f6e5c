// The string choices of the experiment schema (configs/experiment.proto) as
// enums. The .pbtxt files keep the reference's spellings ("bfloat16",
// "nearest", ...); they are parsed here, at the config boundary (the
// validator and the config-to-options builders use these parsers), and the
// code below the boundary only sees the enums.
//
// For each enum E: ParseChoice<E>(name) -> E (InvalidArgument listing the
// allowed names otherwise), NameOf(E) -> the spelling, AllowedNames<E>() ->
// "a, b, c", and Choices<E>() -> the whole table.
#ifndef SAM2_CONFIGS_CHOICES_H_
#define SAM2_CONFIGS_CHOICES_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace sam2::config {

// trainer.mode.
enum class TrainerMode { kTrain, kTrainOnly, kVal };
// trainer.accelerator.
enum class Accelerator { kCuda, kCpu };
// optim.amp_dtype.
enum class AmpDtype { kBfloat16, kFloat16 };
// optim.optimizer.
enum class Optimizer { kAdamW };
// SchedulerConfig.Composite.interval_scaling.
enum class IntervalScaling { kRescaled, kFixed };
// distributed.backend.
enum class DistributedBackend { kNccl, kMpi, kGloo };
// model.image_encoder.neck.fpn_interp_model: the F.interpolate modes that
// the neck implements.
enum class FpnInterpMode { kNearest, kNearestExact, kBilinear, kBicubic };
// model.image_encoder.neck.fuse_type.
enum class FpnFuseType { kSum, kAvg };
// model.memory_attention.layer.activation.
enum class Activation { kRelu, kGelu, kGlu };
// model.pt_sampling_for_eval.
enum class PointSampling { kCenter, kUniform };
// random_affine.image_interpolation: the reference's RandomAffine implements
// these two and raises NotImplementedError for any other.
enum class ImageInterpolation { kBicubic, kBilinear };

template <typename E>
struct Choice {
  E value;
  std::string_view name;
};

// The table of E, in the order the allowed names are listed. Specialised for
// every enum above (in choices.cc).
template <typename E>
absl::Span<const Choice<E>> Choices();
// (Declared here so that every use sees the specialisation.)
template <>
absl::Span<const Choice<TrainerMode>> Choices<TrainerMode>();
template <>
absl::Span<const Choice<Accelerator>> Choices<Accelerator>();
template <>
absl::Span<const Choice<AmpDtype>> Choices<AmpDtype>();
template <>
absl::Span<const Choice<Optimizer>> Choices<Optimizer>();
template <>
absl::Span<const Choice<IntervalScaling>> Choices<IntervalScaling>();
template <>
absl::Span<const Choice<DistributedBackend>> Choices<DistributedBackend>();
template <>
absl::Span<const Choice<FpnInterpMode>> Choices<FpnInterpMode>();
template <>
absl::Span<const Choice<FpnFuseType>> Choices<FpnFuseType>();
template <>
absl::Span<const Choice<Activation>> Choices<Activation>();
template <>
absl::Span<const Choice<PointSampling>> Choices<PointSampling>();
template <>
absl::Span<const Choice<ImageInterpolation>> Choices<ImageInterpolation>();

// The spelling of `value` in the config files.
template <typename E>
std::string_view NameOf(E value) {
  for (const Choice<E>& choice : Choices<E>()) {
    if (choice.value == value) return choice.name;
  }
  return "?";
}

// "a, b, c": for error messages.
template <typename E>
std::string AllowedNames() {
  std::string out;
  for (const Choice<E>& choice : Choices<E>()) {
    if (!out.empty()) out += ", ";
    out += choice.name;
  }
  return out;
}

// Exact, case-sensitive match (as the reference's string comparisons).
template <typename E>
absl::StatusOr<E> ParseChoice(std::string_view name) {
  for (const Choice<E>& choice : Choices<E>()) {
    if (choice.name == name) return choice.value;
  }
  return absl::InvalidArgumentError(std::string("is \"")
                                        .append(name)
                                        .append("\"; allowed: ")
                                        .append(AllowedNames<E>()));
}

}  // namespace sam2::config

#endif  // SAM2_CONFIGS_CHOICES_H_
