// Conv2d with ATen's values and faster gradients where ATen's CPU kernels are
// slow for SAM 2's shapes:
//  - the input and weight gradients of depthwise convolutions with stride 1
//    (the memory encoder's CXBlock 7 x 7 dwconv: ATen's took ~1 ms for
//    [2, 64, 16, 16]);
//  - the input gradient of convolutions with one input channel (the mask
//    downsampler's first 3 x 3 stride-2 convolution, on the full-resolution
//    mask: ATen's took ~1.8 ms for [2, 1, 256, 256]);
//  - the gradients of 1 x 1 convolutions, as matrix products (mkldnn's are
//    slow for the prompt encoder's and memory encoder's few channels).
// The other gradients, and every value, are ATen's. Elsewhere (no gradient,
// not float, not on the CPU, other convolutions) the module runs as it is.
#ifndef SAM2_MODELING_CONV_GRADIENTS_H_
#define SAM2_MODELING_CONV_GRADIENTS_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/modules/conv.h>

#include <cstdint>

namespace sam2::modeling {

// conv(x), the gradients as above.
at::Tensor ApplyConv2d(const torch::nn::Conv2d& conv, const at::Tensor& x);

// The kernels, exposed for tests. All tensors contiguous float on the CPU.

// grad_output [B, C, Ho, Wo], input [B, C, H, W] of a depthwise convolution
// (one group per channel, one output channel per group) with a k x k kernel,
// stride 1, zero padding `padding`, dilation 1: the weight gradient
// [C, 1, k, k].
at::Tensor DepthwiseConvWeightGradient(const at::Tensor& grad_output,
                                       const at::Tensor& input, int64_t kernel,
                                       int64_t padding);

// grad_output [B, C, Ho, Wo], weight [C, 1, k, k] of a depthwise convolution
// as above, padding at most k - 1: the input gradient [B, C, H, W].
at::Tensor DepthwiseConvInputGradient(const at::Tensor& grad_output,
                                      const at::Tensor& weight,
                                      int64_t padding);

// grad_output [B, Co, Ho, Wo], weight [Co, 1, k, k] of a convolution of a
// one-channel input [B, 1, height, width] with stride `stride`, zero padding
// `padding`, dilation 1: the input gradient [B, 1, height, width].
at::Tensor SingleChannelConvInputGradient(const at::Tensor& grad_output,
                                          const at::Tensor& weight,
                                          int64_t height, int64_t width,
                                          int64_t stride, int64_t padding);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_CONV_GRADIENTS_H_
