#include "sam2/modeling/backbones/hieradet.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdlib>

#include "sam2/modeling/sam2_utils.h"

namespace sam2::modeling {
namespace {

bool Contains(const std::vector<int64_t>& values, int64_t v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// Max-pools a channels-last [B, H, W, C] tensor by `stride` (kernel ==
// stride, floor mode), as the reference's do_pool with nn.MaxPool2d.
at::Tensor PoolChannelsLast(const at::Tensor& x,
                            const std::array<int64_t, 2>& stride) {
  at::Tensor y = at::max_pool2d(x.permute({0, 3, 1, 2}), {stride[0], stride[1]},
                                {stride[0], stride[1]},
                                /*padding=*/{0, 0}, /*dilation=*/{1, 1},
                                /*ceil_mode=*/false);
  return y.permute({0, 2, 3, 1});
}

}  // namespace

// ---------------------------------------------------------------------------
MultiScaleAttentionImpl::MultiScaleAttentionImpl(
    const MultiScaleAttentionOptions& options)
    : options_(options) {
  qkv = register_module("qkv",
                        torch::nn::Linear(options_.dim, options_.dim_out * 3));
  proj = register_module("proj",
                         torch::nn::Linear(options_.dim_out, options_.dim_out));
}

at::Tensor MultiScaleAttentionImpl::forward(const at::Tensor& x) {
  return forward_from_qkv(ApplyLinear(qkv, x));
}

at::Tensor MultiScaleAttentionImpl::forward_from_qkv(const at::Tensor& qkv_4d) {
  return ApplyLinear(proj, attend(qkv_4d));
}

at::Tensor MultiScaleAttentionImpl::attend(const at::Tensor& qkv_4d) {
  const int64_t b = qkv_4d.size(0);
  int64_t h = qkv_4d.size(1), w = qkv_4d.size(2);
  const int64_t heads = options_.num_heads;
  // [B, H*W, 3, heads, C / heads]
  at::Tensor qkv_out = qkv_4d.reshape({b, h * w, 3, heads, -1});
  std::vector<at::Tensor> parts = at::unbind(qkv_out, 2);
  at::Tensor q = parts[0], k = parts[1], v = parts[2];

  if (options_.q_stride.has_value()) {
    q = PoolChannelsLast(q.reshape({b, h, w, -1}), *options_.q_stride);
    h = q.size(1);
    w = q.size(2);
    q = q.reshape({b, h * w, heads, -1});
  }

  at::Tensor out = ScaledDotProductAttention(
      q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2));
  return out.transpose(1, 2).reshape({b, h, w, -1});
}

// ---------------------------------------------------------------------------
MultiScaleBlockImpl::MultiScaleBlockImpl(const MultiScaleBlockOptions& options)
    : options_(options) {
  const auto layer_norm = [this](int64_t dim) {
    return torch::nn::LayerNorm(
        torch::nn::LayerNormOptions({dim}).eps(options_.norm_eps));
  };
  norm1 = register_module("norm1", layer_norm(options_.dim));

  MultiScaleAttentionOptions attn_options;
  attn_options.dim = options_.dim;
  attn_options.dim_out = options_.dim_out;
  attn_options.num_heads = options_.num_heads;
  attn_options.q_stride = options_.q_stride;
  attn = register_module("attn", MultiScaleAttention(attn_options));

  // The reference uses nn.Identity for drop_path == 0; DropPath(0) is the
  // identity too and neither has parameters.
  drop_path = register_module("drop_path", DropPath(options_.drop_path));

  norm2 = register_module("norm2", layer_norm(options_.dim_out));
  MLPOptions mlp_options(
      options_.dim_out,
      static_cast<int64_t>(options_.dim_out * options_.mlp_ratio),
      options_.dim_out, /*num_layers=*/2);
  mlp_options.activation = options_.act_layer;
  mlp = register_module("mlp", MLP(mlp_options));

  if (options_.dim != options_.dim_out) {
    proj = register_module("proj",
                           torch::nn::Linear(options_.dim, options_.dim_out));
  }
}

at::Tensor MultiScaleBlockImpl::pool(const at::Tensor& x_bhwc) const {
  if (!options_.q_stride.has_value()) return x_bhwc;
  return PoolChannelsLast(x_bhwc, *options_.q_stride);
}

at::Tensor MultiScaleBlockImpl::forward(const at::Tensor& x_in) {
  at::Tensor shortcut = x_in;  // [B, H, W, C]
  int64_t window_size = options_.window_size;
  std::array<int64_t, 2> pad_hw = {0, 0};
  int64_t h = x_in.size(1), w = x_in.size(2);
  if (window_size > 0) {
    pad_hw = {h + (window_size - h % window_size) % window_size,
              w + (window_size - w % window_size) % window_size};
  }
  // attn's qkv layer on the windows. Where they pad x it multiplies the
  // unpadded rows only, and attn's proj below projects those only
  // (PartitionedLinear: the reference projects the padded windows).
  at::Tensor x;
  if (options_.dim != options_.dim_out) {
    // The normalised x feeds proj too: the norm on its own.
    x = norm1->forward(x_in);
    shortcut = pool(ApplyLinear(proj, x));
    x = PartitionedLinear(x, attn->qkv, window_size);
  } else {
    // norm1, the window partition and attn's qkv layer (one node in CPU
    // training: backbones/utils.h).
    x = NormPartitionLinear(x_in, norm1, attn->qkv, window_size);
  }
  x = attn->attend(x);
  if (options_.q_stride.has_value() && options_.window_size > 0) {
    // Q pooling shrank the windows: unpartition with the pooled window over
    // the (pooled) shortcut's size.
    window_size = options_.window_size / (*options_.q_stride)[0];
    h = shortcut.size(1);
    w = shortcut.size(2);
    const int64_t pad_h = (window_size - h % window_size) % window_size;
    const int64_t pad_w = (window_size - w % window_size) % window_size;
    pad_hw = {h + pad_h, w + pad_w};
  }
  if (options_.window_size > 0) {
    x = UnpartitionRows(x, window_size, pad_hw, {h, w});
  }
  x = ApplyLinear(attn->proj, x);

  x = shortcut + drop_path->forward(x);
  // norm2 and the MLP's first layer as one node too.
  x = x + drop_path->forward(mlp->forward_from(
              1, NormPartitionLinear(x, norm2, mlp->linears()[0], 0)));
  return x;
}

// ---------------------------------------------------------------------------
HieraImpl::HieraImpl(const HieraOptions& options) : options_(options) {
  const auto& stages = options_.stages;
  TORCH_CHECK(stages.size() == options_.window_spec.size(),
              "Hiera: stages and window_spec differ in length");
  int64_t depth = 0;
  for (int64_t s : stages) {
    depth += s;
    stage_ends_.push_back(depth - 1);
  }
  TORCH_CHECK(options_.q_pool >= 0 &&
                  options_.q_pool < static_cast<int64_t>(stage_ends_.size()),
              "Hiera: q_pool must be in [0, number of stages - 1]");
  for (int64_t i = 0; i < options_.q_pool; ++i) {
    q_pool_blocks_.push_back(stage_ends_[i] + 1);
  }

  PatchEmbedOptions patch_options;
  patch_options.embed_dim = options_.embed_dim;
  patch_embed = register_module("patch_embed", PatchEmbed(patch_options));

  pos_embed = register_parameter(
      "pos_embed", at::zeros({1, options_.embed_dim,
                              options_.window_pos_embed_bkg_spatial_size[0],
                              options_.window_pos_embed_bkg_spatial_size[1]}));
  pos_embed_window = register_parameter(
      "pos_embed_window",
      at::zeros({1, options_.embed_dim, options_.window_spec[0],
                 options_.window_spec[0]}));

  // Stochastic depth grows linearly over the blocks (float32 linspace, as
  // in the reference).
  at::Tensor dpr = at::linspace(0.0, options_.drop_path_rate, depth);

  blocks = register_module("blocks", torch::nn::ModuleList());
  int64_t embed_dim = options_.embed_dim;
  int64_t num_heads = options_.num_heads;
  int64_t cur_stage = 1;
  for (int64_t i = 0; i < depth; ++i) {
    int64_t dim_out = embed_dim;
    // The window size lags by a block: the first block of a stage still
    // uses the previous stage's window (before its q pooling).
    int64_t window_size = options_.window_spec[cur_stage - 1];
    if (Contains(options_.global_att_blocks, i)) window_size = 0;
    if (Contains(stage_ends_, i - 1)) {
      dim_out = static_cast<int64_t>(embed_dim * options_.dim_mul);
      num_heads = static_cast<int64_t>(num_heads * options_.head_mul);
      ++cur_stage;
    }
    MultiScaleBlockOptions block;
    block.dim = embed_dim;
    block.dim_out = dim_out;
    block.num_heads = num_heads;
    block.drop_path = static_cast<double>(dpr[i].item<float>());
    if (Contains(q_pool_blocks_, i)) block.q_stride = options_.q_stride;
    block.window_size = window_size;
    MultiScaleBlock module(block);
    blocks->push_back(module);
    blocks_.push_back(module);
    embed_dim = dim_out;
  }

  if (options_.return_interm_layers) {
    for (auto it = stage_ends_.rbegin(); it != stage_ends_.rend(); ++it) {
      channel_list_.push_back(blocks_[*it]->options().dim_out);
    }
  } else {
    channel_list_.push_back(blocks_.back()->options().dim_out);
  }
}

at::Tensor HieraImpl::get_pos_embed(int64_t h, int64_t w) const {
  at::Tensor bkg = at::upsample_bicubic2d(pos_embed, {h, w},
                                          /*align_corners=*/false);
  const int64_t ws_h = pos_embed_window.size(2);
  const int64_t ws_w = pos_embed_window.size(3);
  TORCH_CHECK(h % ws_h == 0 && w % ws_w == 0, "Hiera: feature size ", h, "x", w,
              " is not a multiple of the window embedding ", ws_h, "x", ws_w);
  at::Tensor tiled = pos_embed_window.tile({1, 1, h / ws_h, w / ws_w});
  return (bkg + tiled).permute({0, 2, 3, 1});
}

std::vector<at::Tensor> HieraImpl::forward(const at::Tensor& image) {
  at::Tensor x = patch_embed->forward(image);  // [B, H, W, C]
  x = x + get_pos_embed(x.size(1), x.size(2));

  std::vector<at::Tensor> outputs;
  const int64_t last = stage_ends_.back();
  for (int64_t i = 0; i < static_cast<int64_t>(blocks_.size()); ++i) {
    x = blocks_[i]->forward(x);
    if (i == last ||
        (options_.return_interm_layers && Contains(stage_ends_, i))) {
      outputs.push_back(x.permute({0, 3, 1, 2}));
    }
  }
  return outputs;
}

int64_t HieraImpl::get_layer_id(const std::string& layer_name) const {
  const int64_t num_layers = get_num_layers();
  if (layer_name.find("rel_pos") != std::string::npos) return num_layers + 1;
  if (layer_name.find("pos_embed") != std::string::npos) return 0;
  if (layer_name.find("patch_embed") != std::string::npos) return 0;
  const size_t at = layer_name.find("blocks");
  if (at != std::string::npos) {
    // "...blocks.<id>...." -> id + 1
    const size_t start = layer_name.find('.', at);
    if (start != std::string::npos) {
      return std::atoll(layer_name.c_str() + start + 1) + 1;
    }
  }
  return num_layers + 1;
}

}  // namespace sam2::modeling
