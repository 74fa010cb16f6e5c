// Test helpers for the modeling packages: golden files written by the
// reference implementation (torch.save'd {name: tensor} dicts) and the parity
// tolerances of tests/testdata/parity/README.md.
#ifndef SAM2_MODELING_TEST_UTIL_H_
#define SAM2_MODELING_TEST_UTIL_H_

#include <ATen/core/Tensor.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include <map>
#include <string>

namespace sam2::modeling::testing {

using TensorMap = std::map<std::string, at::Tensor>;

// A plain {name: tensor} torch.save file, relative to the runfiles root
// (e.g. "sam2/modeling/testdata/units_golden.pt"). Fails the test on error.
TensorMap LoadGolden(const std::string& path);

// The state_dict of an official-format checkpoint ({"model": ...}).
TensorMap LoadModelStateDict(const std::string& path);

// The tensor `name` of `golden`; fails the test (and returns an undefined
// tensor) when missing.
at::Tensor Get(const TensorMap& golden, const std::string& name);

// Loads the entries of `state_dict` under `prefix` (stripped) into `module`,
// strictly: every module key must be present and no extra key may remain.
void LoadPrefixed(torch::nn::Module& module, const TensorMap& state_dict,
                  const std::string& prefix);

double MaxAbs(const at::Tensor& t);
double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b);

// Forward tolerance: max |ours - ref| <= 1e-3 * max(1, max |ref|); shapes
// must match.
::testing::AssertionResult ForwardClose(const at::Tensor& ours,
                                        const at::Tensor& ref,
                                        double rel = 1e-3);

// Gradient tolerance: max |ours - ref| <= 1e-3 * max |ref| and cosine >=
// 0.9999 for more than 16 elements; a reference below `floor` (rounding
// noise around a true zero) only needs max |ours| <= floor.
::testing::AssertionResult GradClose(const at::Tensor& ours,
                                     const at::Tensor& ref, double floor);

}  // namespace sam2::modeling::testing

#endif  // SAM2_MODELING_TEST_UTIL_H_
