#include "sam2/modeling/patch_conv.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/modules/conv.h>

#include <tuple>
#include <vector>

namespace sam2::modeling {
namespace {

double MaxDifference(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// The values and gradients of the module's own forward, to float rounding,
// for an input that is contiguous and one that is a channels-last view (as
// the mask decoder's transposed keys are).
template <typename Module>
void ExpectMatchesModule(Module& module,
                         at::Tensor (*apply)(const Module&, const at::Tensor&),
                         const at::Tensor& input) {
  at::Tensor ours_in = input.clone().requires_grad_();
  at::Tensor theirs_in = input.clone().requires_grad_();
  const at::Tensor ours = apply(module, ours_in);
  const at::Tensor theirs = module->forward(theirs_in);
  ASSERT_EQ(ours.sizes(), theirs.sizes());
  EXPECT_LE(MaxDifference(ours, theirs),
            1e-6 * theirs.abs().max().item<double>());
  const at::Tensor grad = at::randn(theirs.sizes());
  std::vector<at::Tensor> ours_grads = torch::autograd::grad(
      {ours}, {ours_in, module->weight, module->bias}, {grad});
  std::vector<at::Tensor> theirs_grads = torch::autograd::grad(
      {theirs}, {theirs_in, module->weight, module->bias}, {grad});
  for (size_t i = 0; i < ours_grads.size(); ++i) {
    SCOPED_TRACE(testing::Message() << "gradient " << i);
    EXPECT_LE(MaxDifference(ours_grads[i], theirs_grads[i]),
              1e-5 * theirs_grads[i].abs().max().item<double>());
  }
}

at::Tensor ChannelsLastView(const at::Tensor& x) {
  return x.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});
}

TEST(PatchConv, MatchesConv2d) {
  at::manual_seed(0);
  for (const auto& [in, out, size] :
       {std::tuple<int64_t, int64_t, int64_t>{1, 4, 64},
        {4, 16, 32},
        {3, 5, 6}}) {
    SCOPED_TRACE(testing::Message() << in << " -> " << out << " at " << size);
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(in, out, 2).stride(2));
    const at::Tensor x = at::randn({2, in, size, size});
    ExpectMatchesModule(conv, &ApplyPatchConv, x);
    ExpectMatchesModule(conv, &ApplyPatchConv, ChannelsLastView(x));
  }
}

TEST(PatchConv, MatchesConvTranspose2d) {
  at::manual_seed(1);
  for (const auto& [in, out, size] :
       {std::tuple<int64_t, int64_t, int64_t>{64, 16, 16},
        {16, 8, 32},
        {3, 5, 7}}) {
    SCOPED_TRACE(testing::Message() << in << " -> " << out << " at " << size);
    torch::nn::ConvTranspose2d conv(
        torch::nn::ConvTranspose2dOptions(in, out, 2).stride(2));
    const at::Tensor x = at::randn({2, in, size, size});
    ExpectMatchesModule(conv, &ApplyPatchConvTranspose, x);
    ExpectMatchesModule(conv, &ApplyPatchConvTranspose, ChannelsLastView(x));
  }
}

TEST(PatchConv, OtherConvolutionsAndInputsRunTheModule) {
  torch::nn::Conv2d padded(
      torch::nn::Conv2dOptions(2, 3, 2).stride(2).padding(1));
  const at::Tensor x = at::randn({1, 2, 6, 6}).requires_grad_();
  EXPECT_TRUE(at::equal(ApplyPatchConv(padded, x), padded->forward(x)));
  torch::nn::Conv2d patch(torch::nn::Conv2dOptions(2, 3, 2).stride(2));
  const at::Tensor odd = at::randn({1, 2, 5, 6}).requires_grad_();
  EXPECT_TRUE(at::equal(ApplyPatchConv(patch, odd), patch->forward(odd)));
  const at::Tensor doubles = at::randn({1, 2, 6, 6}, at::kDouble);
  patch->to(at::kDouble);
  EXPECT_TRUE(
      at::equal(ApplyPatchConv(patch, doubles), patch->forward(doubles)));
}

}  // namespace
}  // namespace sam2::modeling
