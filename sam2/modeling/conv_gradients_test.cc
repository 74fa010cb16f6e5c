#include "sam2/modeling/conv_gradients.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/nn/modules/conv.h>

#include <string>
#include <vector>

namespace sam2::modeling {
namespace {

double MaxDifference(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// ApplyConv2d against the module's own forward: the values bitwise, every
// gradient (input, weight, bias) to float rounding, through this file's
// node (`ours`) or ATen's.
void ExpectMatchesModule(torch::nn::Conv2d& conv, const at::Tensor& input,
                         bool ours_node = true) {
  at::Tensor ours_in = input.clone().requires_grad_();
  at::Tensor theirs_in = input.clone().requires_grad_();
  const at::Tensor ours = ApplyConv2d(conv, ours_in);
  const at::Tensor theirs = conv->forward(theirs_in);
  ASSERT_NE(ours.grad_fn(), nullptr);
  EXPECT_EQ(ours.grad_fn()->name().find("ConvFunction") != std::string::npos,
            ours_node)
      << ours.grad_fn()->name();
  ASSERT_EQ(ours.sizes(), theirs.sizes());
  EXPECT_TRUE(at::equal(ours, theirs));
  const at::Tensor grad = at::randn(theirs.sizes());
  std::vector<at::Tensor> wrt = {ours_in, conv->weight};
  std::vector<at::Tensor> wrt_theirs = {theirs_in, conv->weight};
  if (conv->bias.defined()) {
    wrt.push_back(conv->bias);
    wrt_theirs.push_back(conv->bias);
  }
  const std::vector<at::Tensor> ours_grads =
      torch::autograd::grad({ours}, wrt, {grad});
  const std::vector<at::Tensor> theirs_grads =
      torch::autograd::grad({theirs}, wrt_theirs, {grad});
  for (size_t i = 0; i < ours_grads.size(); ++i) {
    SCOPED_TRACE(testing::Message() << "gradient " << i);
    ASSERT_EQ(ours_grads[i].sizes(), theirs_grads[i].sizes());
    EXPECT_LE(MaxDifference(ours_grads[i], theirs_grads[i]),
              1e-5 * theirs_grads[i].abs().max().item<double>());
  }
}

TEST(ConvGradients, DepthwiseMatchesConv2d) {
  at::manual_seed(0);
  struct Case {
    int64_t channels, kernel, padding, height, width;
    bool bias;
  };
  for (const Case& c : {Case{64, 7, 3, 16, 16, true},  // the CXBlock dwconv
                        Case{5, 3, 1, 9, 13, true},    // odd sizes
                        Case{4, 5, 0, 8, 11, false},   // no padding, no bias
                        Case{3, 3, 2, 6, 7, true}}) {  // padding > kernel / 2
    SCOPED_TRACE(testing::Message() << c.channels << " channels, kernel "
                                    << c.kernel << " padding " << c.padding);
    torch::nn::Conv2d conv(
        torch::nn::Conv2dOptions(c.channels, c.channels, c.kernel)
            .padding(c.padding)
            .groups(c.channels)
            .bias(c.bias));
    ExpectMatchesModule(conv, at::randn({2, c.channels, c.height, c.width}));
    // A non-contiguous input (channels last).
    ExpectMatchesModule(
        conv,
        at::randn({3, c.height, c.width, c.channels}).permute({0, 3, 1, 2}));
  }
}

TEST(ConvGradients, SingleChannelInputMatchesConv2d) {
  at::manual_seed(1);
  struct Case {
    int64_t out_channels, kernel, stride, padding, height, width;
  };
  for (const Case& c :
       {Case{4, 3, 2, 1, 64, 64},   // the mask downsampler's first layer
        Case{4, 3, 2, 1, 17, 30},   // odd sizes: the last row and column
        Case{3, 5, 3, 2, 20, 23},   // stride 3
        Case{2, 3, 1, 0, 7, 5},     // stride 1, no padding
        Case{2, 4, 2, 3, 9, 9},     // even kernel, padding > kernel / 2
        Case{1, 3, 2, 1, 2, 1}}) {  // an image smaller than the kernel
    SCOPED_TRACE(testing::Message()
                 << c.out_channels << " channels, kernel " << c.kernel
                 << " stride " << c.stride << " padding " << c.padding << " at "
                 << c.height << " x " << c.width);
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(1, c.out_channels, c.kernel)
                               .stride(c.stride)
                               .padding(c.padding));
    ExpectMatchesModule(conv, at::randn({2, 1, c.height, c.width}));
  }
}

TEST(ConvGradients, PointwiseMatchesConv2d) {
  at::manual_seed(3);
  struct Case {
    int64_t in, out, batch, height, width;
    bool bias;
  };
  for (const Case& c :
       {Case{16, 64, 2, 16, 16, true},  // the prompt encoder's
        Case{64, 8, 3, 9, 7, false}, Case{5, 3, 1, 1, 1, true}}) {
    SCOPED_TRACE(testing::Message() << c.in << " -> " << c.out);
    torch::nn::Conv2d conv(
        torch::nn::Conv2dOptions(c.in, c.out, 1).bias(c.bias));
    ExpectMatchesModule(conv, at::randn({c.batch, c.in, c.height, c.width}));
    ExpectMatchesModule(
        conv,
        at::randn({c.batch, c.height, c.width, c.in}).permute({0, 3, 1, 2}));
  }
}

TEST(ConvGradients, OtherConvolutionsAreTheModules) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(4, 8, 3).padding(1));
  ExpectMatchesModule(conv, at::randn({1, 4, 8, 8}), /*ours_node=*/false);
  torch::nn::Conv2d strided_depthwise(
      torch::nn::Conv2dOptions(4, 4, 3).stride(2).groups(4));
  ExpectMatchesModule(strided_depthwise, at::randn({1, 4, 8, 8}),
                      /*ours_node=*/false);
  torch::nn::Conv2d strided_pointwise(
      torch::nn::Conv2dOptions(4, 6, 1).stride(2));
  ExpectMatchesModule(strided_pointwise, at::randn({1, 4, 8, 8}),
                      /*ours_node=*/false);
  torch::nn::Conv2d wide_padding(
      torch::nn::Conv2dOptions(4, 4, 3).padding(3).groups(4));
  ExpectMatchesModule(wide_padding, at::randn({1, 4, 8, 8}),
                      /*ours_node=*/false);
}

TEST(ConvGradients, OnlyTheNeededGradients) {
  // A depthwise convolution whose input needs no gradient and a one-channel
  // one whose weight is frozen.
  at::manual_seed(2);
  torch::nn::Conv2d depthwise(
      torch::nn::Conv2dOptions(6, 6, 3).padding(1).groups(6));
  const at::Tensor x = at::randn({2, 6, 10, 10});
  const at::Tensor grad = at::randn({2, 6, 10, 10});
  const at::Tensor ours = torch::autograd::grad({ApplyConv2d(depthwise, x)},
                                                {depthwise->weight}, {grad})[0];
  const at::Tensor theirs = torch::autograd::grad(
      {depthwise->forward(x)}, {depthwise->weight}, {grad})[0];
  EXPECT_LE(MaxDifference(ours, theirs),
            1e-5 * theirs.abs().max().item<double>());

  torch::nn::Conv2d single(
      torch::nn::Conv2dOptions(1, 4, 3).stride(2).padding(1));
  single->weight.requires_grad_(false);
  single->bias.requires_grad_(false);
  const at::Tensor m = at::randn({2, 1, 32, 32}).requires_grad_();
  const at::Tensor out_grad = at::randn({2, 4, 16, 16});
  const at::Tensor ours_m =
      torch::autograd::grad({ApplyConv2d(single, m)}, {m}, {out_grad})[0];
  const at::Tensor theirs_m =
      torch::autograd::grad({single->forward(m)}, {m}, {out_grad})[0];
  EXPECT_LE(MaxDifference(ours_m, theirs_m),
            1e-5 * theirs_m.abs().max().item<double>());
}

}  // namespace
}  // namespace sam2::modeling
