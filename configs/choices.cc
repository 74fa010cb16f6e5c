#include "configs/choices.h"

namespace sam2::config {

// Spellings as in the reference's configs and code.

template <>
absl::Span<const Choice<TrainerMode>> Choices() {
  static constexpr Choice<TrainerMode> kTable[] = {
      {TrainerMode::kTrain, "train"},
      {TrainerMode::kTrainOnly, "train_only"},
      {TrainerMode::kVal, "val"},
  };
  return kTable;
}

template <>
absl::Span<const Choice<Accelerator>> Choices() {
  static constexpr Choice<Accelerator> kTable[] = {
      {Accelerator::kCuda, "cuda"},
      {Accelerator::kCpu, "cpu"},
  };
  return kTable;
}

template <>
absl::Span<const Choice<AmpDtype>> Choices() {
  static constexpr Choice<AmpDtype> kTable[] = {
      {AmpDtype::kBfloat16, "bfloat16"},
      {AmpDtype::kFloat16, "float16"},
  };
  return kTable;
}

template <>
absl::Span<const Choice<Optimizer>> Choices() {
  static constexpr Choice<Optimizer> kTable[] = {
      {Optimizer::kAdamW, "AdamW"},
  };
  return kTable;
}

template <>
absl::Span<const Choice<IntervalScaling>> Choices() {
  static constexpr Choice<IntervalScaling> kTable[] = {
      {IntervalScaling::kRescaled, "rescaled"},
      {IntervalScaling::kFixed, "fixed"},
  };
  return kTable;
}

template <>
absl::Span<const Choice<DistributedBackend>> Choices() {
  static constexpr Choice<DistributedBackend> kTable[] = {
      {DistributedBackend::kNccl, "nccl"},
      {DistributedBackend::kMpi, "mpi"},
      {DistributedBackend::kGloo, "gloo"},
  };
  return kTable;
}

template <>
absl::Span<const Choice<FpnInterpMode>> Choices() {
  static constexpr Choice<FpnInterpMode> kTable[] = {
      {FpnInterpMode::kNearest, "nearest"},
      {FpnInterpMode::kNearestExact, "nearest-exact"},
      {FpnInterpMode::kBilinear, "bilinear"},
      {FpnInterpMode::kBicubic, "bicubic"},
  };
  return kTable;
}

template <>
absl::Span<const Choice<FpnFuseType>> Choices() {
  static constexpr Choice<FpnFuseType> kTable[] = {
      {FpnFuseType::kSum, "sum"},
      {FpnFuseType::kAvg, "avg"},
  };
  return kTable;
}

template <>
absl::Span<const Choice<Activation>> Choices() {
  static constexpr Choice<Activation> kTable[] = {
      {Activation::kRelu, "relu"},
      {Activation::kGelu, "gelu"},
      {Activation::kGlu, "glu"},
  };
  return kTable;
}

template <>
absl::Span<const Choice<PointSampling>> Choices() {
  static constexpr Choice<PointSampling> kTable[] = {
      {PointSampling::kCenter, "center"},
      {PointSampling::kUniform, "uniform"},
  };
  return kTable;
}

template <>
absl::Span<const Choice<ImageInterpolation>> Choices() {
  static constexpr Choice<ImageInterpolation> kTable[] = {
      {ImageInterpolation::kBicubic, "bicubic"},
      {ImageInterpolation::kBilinear, "bilinear"},
  };
  return kTable;
}

}  // namespace sam2::config
