// Convolutions whose 2 x 2 kernels move by 2 (SAM's mask decoder upscaling
// and prompt encoder mask downscaling) as one matrix product each: every
// output pixel (or 2 x 2 output block) is a linear map of one input pixel
// (or 2 x 2 block). On the CPU in float with gradients this replaces
// mkldnn's and slow_conv_transpose2d's kernels, which are slow for the few
// channels there (4 to 64); elsewhere the modules run as they are.
#ifndef SAM2_MODELING_PATCH_CONV_H_
#define SAM2_MODELING_PATCH_CONV_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/modules/conv.h>

namespace sam2::modeling {

// conv(x) for a Conv2d with kernel 2, stride 2, no padding, dilation 1,
// groups 1 and a bias.
at::Tensor ApplyPatchConv(const torch::nn::Conv2d& conv, const at::Tensor& x);

// conv(x) for a ConvTranspose2d with kernel 2, stride 2, no padding or
// output padding, dilation 1, groups 1 and a bias.
at::Tensor ApplyPatchConvTranspose(const torch::nn::ConvTranspose2d& conv,
                                   const at::Tensor& x);

}  // namespace sam2::modeling

#endif  // SAM2_MODELING_PATCH_CONV_H_
