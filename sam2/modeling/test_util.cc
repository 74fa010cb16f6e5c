#include "sam2/modeling/test_util.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <sstream>

#include "sam2/checkpoint/state_dict.h"
#include "sam2/checkpoint/torch_file.h"

namespace sam2::modeling::testing {
namespace {

TensorMap ToMap(const checkpoint::TensorDict& dict) {
  TensorMap map;
  for (const auto& [name, tensor] : dict) map[name] = tensor;
  return map;
}

}  // namespace

TensorMap LoadGolden(const std::string& path) {
  auto dict = checkpoint::LoadTensorDict(path);
  EXPECT_TRUE(dict.ok()) << dict.status();
  return dict.ok() ? ToMap(*dict) : TensorMap{};
}

TensorMap LoadModelStateDict(const std::string& path) {
  auto dict = checkpoint::LoadStateDict(path);
  EXPECT_TRUE(dict.ok()) << dict.status();
  return dict.ok() ? ToMap(*dict) : TensorMap{};
}

at::Tensor Get(const TensorMap& golden, const std::string& name) {
  auto it = golden.find(name);
  EXPECT_TRUE(it != golden.end()) << "golden has no tensor " << name;
  return it == golden.end() ? at::Tensor() : it->second;
}

void LoadPrefixed(torch::nn::Module& module, const TensorMap& state_dict,
                  const std::string& prefix) {
  checkpoint::TensorDict selected;
  for (const auto& [name, tensor] : state_dict) {
    if (name.compare(0, prefix.size(), prefix) == 0) {
      selected.emplace_back(name.substr(prefix.size()), tensor);
    }
  }
  auto report = checkpoint::LoadStateDictIntoModel(
      module, selected, checkpoint::LoadOptions{}, "prefix " + prefix);
  ASSERT_TRUE(report.ok()) << report.status();
}

double MaxAbs(const at::Tensor& t) {
  if (t.numel() == 0) return 0.0;
  return t.detach().abs().max().item<double>();
}

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return MaxAbs(a.detach().to(at::kDouble) - b.detach().to(at::kDouble));
}

::testing::AssertionResult ForwardClose(const at::Tensor& ours,
                                        const at::Tensor& ref, double rel) {
  if (!ours.defined() || !ref.defined()) {
    return ::testing::AssertionFailure() << "undefined tensor";
  }
  if (ours.sizes() != ref.sizes()) {
    return ::testing::AssertionFailure()
           << "shape " << ours.sizes() << " != reference " << ref.sizes();
  }
  const double err = MaxAbsDiff(ours, ref);
  const double tol = rel * std::max(1.0, MaxAbs(ref));
  if (err <= tol) {
    return ::testing::AssertionSuccess() << "max abs error " << err;
  }
  return ::testing::AssertionFailure()
         << "max abs error " << err << " > " << tol;
}

::testing::AssertionResult GradClose(const at::Tensor& ours,
                                     const at::Tensor& ref, double floor) {
  if (!ours.defined()) {
    return ::testing::AssertionFailure() << "no gradient";
  }
  if (ours.sizes() != ref.sizes()) {
    return ::testing::AssertionFailure()
           << "shape " << ours.sizes() << " != reference " << ref.sizes();
  }
  const double ref_max = MaxAbs(ref);
  const double err = MaxAbsDiff(ours, ref);
  if (ref_max < floor) {
    if (MaxAbs(ours) <= floor) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "reference is ~0 (" << ref_max << ") but ours reaches "
           << MaxAbs(ours);
  }
  if (err > 1e-3 * ref_max) {
    return ::testing::AssertionFailure()
           << "max abs error " << err << " > 1e-3 * " << ref_max;
  }
  if (ref.numel() > 16) {
    at::Tensor a = ours.detach().to(at::kDouble).flatten();
    at::Tensor b = ref.detach().to(at::kDouble).flatten();
    const double cosine =
        (a.dot(b) / (a.norm() * b.norm() + 1e-300)).item<double>();
    if (cosine < 0.9999) {
      return ::testing::AssertionFailure() << "cosine " << cosine;
    }
  }
  return ::testing::AssertionSuccess() << "max abs error " << err;
}

}  // namespace sam2::modeling::testing
