#include "sam2/modeling/memory_encoder.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/modules/activation.h>

#include <cmath>
#include <memory>
#include <string>

#include "sam2/modeling/conv_gradients.h"
#include "sam2/modeling/sam2_utils.h"

namespace sam2::modeling {

MaskDownSamplerImpl::MaskDownSamplerImpl(const MaskDownSamplerOptions& options)
    : options_(options) {
  const int64_t num_layers = static_cast<int64_t>(
      std::floor(std::log2(static_cast<double>(options.total_stride)) /
                 std::log2(static_cast<double>(options.stride))));
  int64_t total = 1;
  for (int64_t i = 0; i < num_layers; ++i) total *= options.stride;
  TORCH_CHECK(total == options.total_stride, "MaskDownSampler: stride ",
              options.stride, " does not divide total_stride ",
              options.total_stride, " into whole steps");
  TORCH_CHECK(options.activation == Activation::kGelu ||
                  options.activation == Activation::kRelu,
              "MaskDownSampler: activation must be GELU or ReLU");
  encoder = torch::nn::Sequential();
  int64_t in_chans = 1, out_chans = 1;
  for (int64_t i = 0; i < num_layers; ++i) {
    out_chans = in_chans * options.stride * options.stride;
    encoder->push_back(torch::nn::Conv2d(
        torch::nn::Conv2dOptions(in_chans, out_chans, options.kernel_size)
            .stride(options.stride)
            .padding(options.padding)));
    encoder->push_back(LayerNorm2d(out_chans));
    if (options.activation == Activation::kGelu) {
      encoder->push_back(torch::nn::GELU());
    } else {
      encoder->push_back(torch::nn::ReLU());
    }
    in_chans = out_chans;
  }
  encoder->push_back(torch::nn::Conv2d(
      torch::nn::Conv2dOptions(out_chans, options.embed_dim, 1)));
  register_module("encoder", encoder);
}

at::Tensor MaskDownSamplerImpl::forward(const at::Tensor& x) {
  // The Sequential's modules one by one, its convolutions through
  // ApplyConv2d: the first (one input channel, on the full-resolution mask)
  // and the last (1 x 1) take its gradients.
  at::Tensor y = x;
  for (torch::nn::AnyModule& module : *encoder) {
    if (auto conv =
            std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(module.ptr())) {
      y = ApplyConv2d(torch::nn::Conv2d(conv), y);
    } else {
      y = module.forward(y);
    }
  }
  return y;
}

CXBlockImpl::CXBlockImpl(const CXBlockOptions& options) : options_(options) {
  const int64_t dim = options.dim;
  if (options.layer_scale_init_value > 0) {
    gamma = register_parameter("gamma",
                               at::full({dim}, options.layer_scale_init_value));
  }
  dwconv = register_module(
      "dwconv",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, dim, options.kernel_size)
                            .padding(options.padding)
                            .groups(options.use_dwconv ? dim : 1)));
  norm = register_module("norm", LayerNorm2d(LayerNorm2dOptions(dim)));
  pwconv1 = register_module("pwconv1", torch::nn::Linear(dim, 4 * dim));
  pwconv2 = register_module("pwconv2", torch::nn::Linear(4 * dim, dim));
  drop_path = register_module("drop_path", DropPath(options.drop_path));
}

at::Tensor CXBlockImpl::forward(const at::Tensor& x) {
  at::Tensor y = norm->forward(ApplyConv2d(dwconv, x));
  y = y.permute({0, 2, 3, 1});  // NCHW -> NHWC for the Linear layers
  y = ApplyLinear(pwconv2, at::gelu(ApplyLinear(pwconv1, y)));
  if (gamma.defined()) y = gamma * y;
  y = y.permute({0, 3, 1, 2});
  return x + drop_path->forward(y);
}

FuserImpl::FuserImpl(const FuserOptions& options) : options_(options) {
  layers = torch::nn::ModuleList();
  for (int64_t i = 0; i < options.num_layers; ++i) {
    blocks_.push_back(CXBlock(options.layer));
    layers->push_back(blocks_.back());
  }
  if (options.input_projection) {
    TORCH_CHECK(options.dim.has_value(), "Fuser: input_projection needs dim");
    proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(
                                       *options.dim, *options.dim, 1)));
  }
  register_module("layers", layers);
}

at::Tensor FuserImpl::forward(const at::Tensor& x) {
  at::Tensor y = proj ? ApplyConv2d(proj, x) : x;
  for (CXBlock& block : blocks_) y = block->forward(y);
  return y;
}

MemoryEncoderOptions::MemoryEncoderOptions() {
  // The reference class has no defaults here; these are the values of every
  // official SAM 2.1 config.
  mask_downsampler.kernel_size = 3;
  mask_downsampler.stride = 2;
  mask_downsampler.padding = 1;
  fuser.layer.dim = 256;
  fuser.num_layers = 2;
  position_encoding.num_pos_feats = 64;
}

MemoryEncoderImpl::MemoryEncoderImpl(const MemoryEncoderOptions& options)
    : options_(options) {
  mask_downsampler = register_module("mask_downsampler",
                                     MaskDownSampler(options.mask_downsampler));
  pix_feat_proj = register_module("pix_feat_proj",
                                  torch::nn::Conv2d(torch::nn::Conv2dOptions(
                                      options.in_dim, options.in_dim, 1)));
  fuser = register_module("fuser", Fuser(options.fuser));
  position_encoding = register_module(
      "position_encoding", PositionEmbeddingSine(options.position_encoding));
  if (options.out_dim != options.in_dim) {
    out_proj =
        register_module("out_proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(
                                        options.in_dim, options.out_dim, 1)));
  }
}

MemoryEncoderOutput MemoryEncoderImpl::forward(const at::Tensor& pix_feat,
                                               const at::Tensor& masks,
                                               bool skip_mask_sigmoid) {
  // The sigmoid narrows the gap between predicted logits and boolean GT
  // masks fed as memories.
  at::Tensor m = skip_mask_sigmoid ? masks : at::sigmoid(masks);
  m = mask_downsampler->forward(m);
  at::Tensor x = ApplyConv2d(pix_feat_proj, pix_feat.to(m.device()));
  x = x + m;
  x = fuser->forward(x);
  if (out_proj) x = ApplyConv2d(out_proj, x);
  at::Tensor pos = position_encoding->forward(x).to(x.scalar_type());
  return {x, pos};
}

}  // namespace sam2::modeling
