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

at::Tensor MultiScaleAttentionImpl::attend_windows(
    const at::Tensor& qkv_windows, int64_t batch,
    std::array<int64_t, 2> windows_hw, std::array<int64_t, 2> out_hw) {
  const int64_t bw = qkv_windows.size(0), ws = qkv_windows.size(1);
  const int64_t nh = windows_hw[0], nw = windows_hw[1];
  const int64_t heads = options_.num_heads;
  TORCH_CHECK(qkv_windows.dim() == 4 && qkv_windows.size(2) == ws &&
                  bw == batch * nh * nw,
              "attend_windows: ", batch, " x ", nh, " x ", nw,
              " square windows expected, got ", qkv_windows.sizes());
  const std::vector<at::Tensor> parts =
      at::unbind(qkv_windows.reshape({bw, ws * ws, 3, heads, -1}), 2);
  const int64_t e = parts[0].size(-1);
  at::Tensor q = parts[0].reshape({bw, ws, ws, heads * e});
  if (options_.q_stride.has_value()) {
    q = PoolChannelsLast(q, *options_.q_stride);
  }
  const int64_t qws = q.size(1);
  TORCH_CHECK(
      (out_hw[0] + qws - 1) / qws == nh && (out_hw[1] + qws - 1) / qws == nw,
      "attend_windows: ", out_hw[0], "x", out_hw[1], " is not held by ", nh,
      "x", nw, " windows of ", qws);
  // [B, nH, nW, rows, cols, heads, E] and [B, nH, nW, heads, L, E].
  const at::Tensor q7 = q.reshape({batch, nh, nw, qws, qws, heads, e});
  const auto keys = [&](const at::Tensor& t) {
    return t.view({batch, nh, nw, ws * ws, heads, e})
        .permute({0, 1, 2, 4, 3, 5});
  };
  const at::Tensor k6 = keys(parts[1]), v6 = keys(parts[2]);
  // The windows in runs that keep the same rows and columns of queries:
  // whole windows, the partial last row and column of windows, the corner.
  // The runs are split off (not sliced): the backward pass then puts their
  // gradients together in one concatenation, where a slice's backward makes
  // a zero tensor of the whole input for each run and adds them up.
  const std::vector<WindowSpan> row_spans = WindowSpans(out_hw[0], qws);
  const std::vector<WindowSpan> col_spans = WindowSpans(out_hw[1], qws);
  const auto split_runs = [](const at::Tensor& t, int64_t dim,
                             const std::vector<WindowSpan>& spans) {
    std::vector<int64_t> sizes;
    for (const WindowSpan& span : spans) sizes.push_back(span.windows);
    return t.split_with_sizes(sizes, dim);
  };
  // The first `size` rows (columns) of every window, split off likewise.
  const auto kept = [](const at::Tensor& t, int64_t dim, int64_t size) {
    if (size == t.size(dim)) return t;
    return t.split_with_sizes({size, t.size(dim) - size}, dim)[0];
  };
  const std::vector<at::Tensor> q_rows = split_runs(q7, 1, row_spans);
  const std::vector<at::Tensor> k_rows = split_runs(k6, 1, row_spans);
  const std::vector<at::Tensor> v_rows = split_runs(v6, 1, row_spans);
  std::vector<at::Tensor> row_runs;
  for (size_t i = 0; i < row_spans.size(); ++i) {
    const WindowSpan& r = row_spans[i];
    const std::vector<at::Tensor> q_runs = split_runs(q_rows[i], 2, col_spans);
    const std::vector<at::Tensor> k_runs = split_runs(k_rows[i], 2, col_spans);
    const std::vector<at::Tensor> v_runs = split_runs(v_rows[i], 2, col_spans);
    std::vector<at::Tensor> runs;
    for (size_t j = 0; j < col_spans.size(); ++j) {
      const WindowSpan& c = col_spans[j];
      const at::Tensor queries = kept(kept(q_runs[j], 3, r.size), 4, c.size)
                                     .permute({0, 1, 2, 5, 3, 4, 6})
                                     .reshape({batch, r.windows, c.windows,
                                               heads, r.size * c.size, e});
      const at::Tensor out =
          ScaledDotProductAttention(queries, k_runs[j], v_runs[j]);
      runs.push_back(
          out.reshape({batch, r.windows, c.windows, heads, r.size, c.size, e})
              .permute({0, 1, 4, 2, 5, 3, 6})
              .reshape(
                  {batch, r.windows * r.size, c.windows * c.size, heads * e}));
    }
    row_runs.push_back(runs.size() == 1 ? runs[0] : at::cat(runs, 2));
  }
  return row_runs.size() == 1 ? row_runs[0] : at::cat(row_runs, 1);
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
  const int64_t window_size = options_.window_size;
  // attn's qkv layer on the windows. Where they pad x it multiplies the
  // unpadded rows only (PartitionedLinear), the padding's queries are not
  // attended and attn's proj projects the unpadded rows only (the reference
  // computes all three for the padding too).
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
  if (window_size > 0) {
    // Over the (q-pooled) shortcut's size.
    const auto windows = [window_size](int64_t n) {
      return (n + window_size - 1) / window_size;
    };
    x = attn->attend_windows(x, x_in.size(0),
                             {windows(x_in.size(1)), windows(x_in.size(2))},
                             {shortcut.size(1), shortcut.size(2)});
  } else {
    x = attn->attend(x);
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
