// Hiera blocks and windowing against the reference
// (testdata/blocks_golden.pt, written by the reference modules on torch 1.13
// / CPU / float32), plus trunk structure checks.
#include "sam2/modeling/backbones/hieradet.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sam2/modeling/backbones/utils.h"
#include "sam2/modeling/test_util.h"

namespace sam2::modeling {
namespace {

using testing::ForwardClose;
using testing::Get;
using testing::GradClose;
using testing::LoadGolden;
using testing::LoadPrefixed;
using testing::TensorMap;

const TensorMap& Golden() {
  static const TensorMap* golden = new TensorMap(
      LoadGolden("sam2/modeling/backbones/testdata/blocks_golden.pt"));
  return *golden;
}

TEST(WindowPartition, PadsToWholeWindowsAndRoundTrips) {
  at::Tensor x = Get(Golden(), "window.x");  // [2, 10, 11, 4]
  auto [windows, pad_hw] = WindowPartition(x, 4);
  EXPECT_EQ(pad_hw, (std::array<int64_t, 2>{12, 12}));
  EXPECT_TRUE(at::equal(windows, Get(Golden(), "window.windows")));
  EXPECT_TRUE(at::equal(WindowUnpartition(windows, 4, pad_hw, {10, 11}), x));
  // The padding is zeros.
  EXPECT_EQ(windows[8].slice(0, 2).abs().sum().item<float>(), 0.0f);
}

// In CPU training the norm, the window partition and the linear layer run as
// one node: the values bitwise those of the ops one by one (and of the same
// call without gradients), the gradients those of autograd through the ops.
TEST(NormPartitionLinear, FusedNodeMatchesOpByOpAutograd) {
  at::manual_seed(7);
  for (int64_t window_size : {0, 4, 5}) {  // 5: padded (10x11 -> 10x15)
    torch::nn::LayerNorm norm(torch::nn::LayerNormOptions({6}).eps(1e-6));
    torch::nn::Linear linear(6, 9);
    {
      at::NoGradGuard no_grad;
      norm->weight.copy_(at::randn({6}));
      norm->bias.copy_(at::randn({6}));
    }
    const at::Tensor x0 = at::randn({2, 10, 11, 6});
    at::Tensor plain;
    {
      at::NoGradGuard no_grad;
      plain = NormPartitionLinear(x0, norm, linear, window_size);
    }
    at::Tensor x1 = x0.clone().requires_grad_();
    const at::Tensor fused = NormPartitionLinear(x1, norm, linear, window_size);
    ASSERT_TRUE(at::equal(fused, plain)) << window_size;
    const at::Tensor g = at::randn(fused.sizes());
    fused.backward(g);

    at::Tensor x2 = x0.clone().requires_grad_();
    const at::Tensor nw = norm->weight.detach().clone().requires_grad_();
    const at::Tensor nb = norm->bias.detach().clone().requires_grad_();
    const at::Tensor w = linear->weight.detach().clone().requires_grad_();
    const at::Tensor b = linear->bias.detach().clone().requires_grad_();
    at::Tensor rows = at::layer_norm(x2, {6}, nw, nb, 1e-6);
    if (window_size > 0) rows = WindowPartition(rows, window_size).first;
    const at::Tensor ops = at::linear(rows, w, b);
    ASSERT_TRUE(at::equal(fused, ops)) << window_size;
    ops.backward(g);
    EXPECT_TRUE(at::allclose(x1.grad(), x2.grad(), 1e-5, 1e-6)) << window_size;
    EXPECT_TRUE(at::allclose(norm->weight.grad(), nw.grad(), 1e-5, 1e-6));
    EXPECT_TRUE(at::allclose(norm->bias.grad(), nb.grad(), 1e-5, 1e-6));
    EXPECT_TRUE(at::allclose(linear->weight.grad(), w.grad(), 1e-5, 1e-6));
    EXPECT_TRUE(at::allclose(linear->bias.grad(), b.grad(), 1e-5, 1e-6));
  }
}

// Where the windows pad x, the layer multiplies x's own rows and the padding
// rows are its bias: the values and gradients of the layer on the padded
// windows (the reference's ops) to float rounding, on each path: without
// gradients, the CPU float node, and the differentiable ops (double here,
// CUDA in training).
TEST(PartitionedLinear, PaddingRowsAreTheBiasAndGradientsMatchTheOps) {
  at::manual_seed(9);
  for (at::ScalarType dtype : {at::kFloat, at::kDouble}) {
    for (int64_t window_size : {4, 5, 12}) {  // on 10x11: all pad
      torch::nn::Linear linear(6, 9);
      linear->to(dtype);
      const at::Tensor x0 = at::randn({2, 10, 11, 6}, dtype);
      at::Tensor plain;
      {
        at::NoGradGuard no_grad;
        plain = PartitionedLinear(x0, linear, window_size);
      }
      at::Tensor x1 = x0.clone().requires_grad_();
      const at::Tensor out = PartitionedLinear(x1, linear, window_size);
      ASSERT_TRUE(at::equal(out, plain)) << window_size;

      at::Tensor x2 = x0.clone().requires_grad_();
      const at::Tensor w = linear->weight.detach().clone().requires_grad_();
      const at::Tensor b = linear->bias.detach().clone().requires_grad_();
      const at::Tensor ops =
          at::linear(WindowPartition(x2, window_size).first, w, b);
      ASSERT_EQ(out.sizes(), ops.sizes());
      EXPECT_TRUE(at::allclose(out, ops, 1e-6, 1e-7)) << window_size;
      // The padding: the bias exactly.
      const at::Tensor is_padding =
          WindowPartition(at::ones({2, 10, 11, 1}), window_size).first == 0;
      const at::Tensor bias = linear->bias.detach().expand_as(out);
      EXPECT_TRUE(at::equal(out.detach().masked_select(is_padding),
                            bias.masked_select(is_padding)))
          << window_size;
      const at::Tensor g = at::randn(out.sizes(), dtype);
      out.backward(g);
      ops.backward(g);
      // Sums over fewer rows: rounding relative to the gradient's scale.
      const auto close = [](const at::Tensor& a, const at::Tensor& b) {
        return at::allclose(a, b, 1e-5, 1e-6 * b.abs().max().item<double>());
      };
      EXPECT_TRUE(close(x1.grad(), x2.grad())) << window_size;
      EXPECT_TRUE(close(linear->weight.grad(), w.grad())) << window_size;
      EXPECT_TRUE(close(linear->bias.grad(), b.grad())) << window_size;
    }
  }
}

// attend_windows attends the kept queries only: the reference's attention on
// all windows (padding included), unpartitioned and cropped, to float
// rounding, values and gradients; with and without q pooling, including
// Hiera-L's windows of 7 pooled to 3 (a row of each window dropped).
TEST(AttendWindows, KeptQueriesMatchAttendingAllWindows) {
  struct Case {
    int64_t h, w, window;
    bool pool;
  };
  for (const Case& c : std::vector<Case>{{16, 16, 14, false},
                                         {10, 11, 4, false},
                                         {16, 16, 8, false},
                                         {16, 16, 7, true},
                                         {10, 10, 4, true}}) {
    at::manual_seed(12);
    MultiScaleAttentionOptions options;
    options.dim = 8;
    options.dim_out = 8;
    options.num_heads = 2;
    if (c.pool) options.q_stride = std::array<int64_t, 2>{2, 2};
    MultiScaleAttention attn(options);
    // 8 images: whole windows of 14 go through the attention node.
    const int64_t batch = 8;
    const at::Tensor x0 = at::randn({batch, c.h, c.w, 8});
    at::Tensor x1 = x0.clone().requires_grad_();
    at::Tensor x2 = x0.clone().requires_grad_();
    const int64_t windows_h = (c.h + c.window - 1) / c.window;
    const int64_t windows_w = (c.w + c.window - 1) / c.window;
    const int64_t out_h = c.pool ? c.h / 2 : c.h,
                  out_w = c.pool ? c.w / 2 : c.w;
    const at::Tensor ours =
        attn->attend_windows(PartitionedLinear(x1, attn->qkv, c.window), batch,
                             {windows_h, windows_w}, {out_h, out_w});
    ASSERT_TRUE(ours.is_contiguous());

    const at::Tensor all =
        attn->attend(at::linear(WindowPartition(x2, c.window).first,
                                attn->qkv->weight, attn->qkv->bias));
    const int64_t qws = all.size(1);
    const at::Tensor reference = WindowUnpartition(
        all, qws, {windows_h * qws, windows_w * qws}, {out_h, out_w});
    ASSERT_EQ(ours.sizes(), reference.sizes()) << c.window;
    EXPECT_TRUE(at::allclose(ours, reference, 1e-5, 1e-6)) << c.window;
    const at::Tensor g = at::randn(ours.sizes());
    const auto weight_grad = [&](const at::Tensor& out) {
      attn->zero_grad();
      out.backward(g);
      return attn->qkv->weight.grad().clone();
    };
    const at::Tensor ours_w = weight_grad(ours);
    const at::Tensor reference_w = weight_grad(reference);
    EXPECT_TRUE(at::allclose(x1.grad(), x2.grad(), 1e-4,
                             1e-6 * x2.grad().abs().max().item<double>()))
        << c.window;
    EXPECT_TRUE(at::allclose(ours_w, reference_w, 1e-4,
                             1e-6 * reference_w.abs().max().item<double>()))
        << c.window;
  }
}

// A block's output is the same with and without gradients (fused nodes or
// not), windows padded or not.
TEST(MultiScaleBlock, FusedTrainingForwardIsBitwiseTheEvalForward) {
  at::manual_seed(8);
  for (int64_t window_size : {0, 4, 5}) {
    MultiScaleBlockOptions options;
    options.dim = 8;
    options.dim_out = 8;
    options.num_heads = 2;
    options.window_size = window_size;
    MultiScaleBlock block(options);
    block->eval();
    const at::Tensor x = at::randn({2, 12, 13, 8});
    at::Tensor plain;
    {
      at::NoGradGuard no_grad;
      plain = block->forward(x);
    }
    EXPECT_TRUE(at::equal(block->forward(x.clone().requires_grad_()), plain))
        << window_size;
  }
}

// Runs block `name` of the golden file in eval mode and compares output and
// gradients (of the output weighted by the golden's random weights).
void CheckBlock(const std::string& name,
                const MultiScaleBlockOptions& options) {
  MultiScaleBlock block(options);
  LoadPrefixed(*block, Golden(), name + ".param.");
  block->eval();
  at::Tensor x = Get(Golden(), name + ".x").clone().requires_grad_();
  at::Tensor out = block->forward(x);
  EXPECT_TRUE(ForwardClose(out, Get(Golden(), name + ".out"))) << name;
  (out * Get(Golden(), name + ".weight")).sum().backward();
  const at::Tensor ref_grad_x = Get(Golden(), name + ".grad_x");
  EXPECT_TRUE(GradClose(x.grad(), ref_grad_x, 0)) << name;
  const double floor = 1e-6 * testing::MaxAbs(ref_grad_x);
  for (const auto& item : block->named_parameters()) {
    EXPECT_TRUE(GradClose(item.value().grad(),
                          Get(Golden(), name + ".grad." + item.key()), floor))
        << name << " " << item.key();
  }
}

TEST(MultiScaleBlock, QPoolingInPaddedWindowsMatchesReference) {
  // 10x10 in windows of 4 (padded to 12), q pooled to windows of 2 over the
  // 5x5 pooled shortcut (padded to 6): both paddings are exercised.
  MultiScaleBlockOptions options;
  options.dim = 8;
  options.dim_out = 16;
  options.num_heads = 2;
  options.q_stride = std::array<int64_t, 2>{2, 2};
  options.window_size = 4;
  CheckBlock("block_pool", options);
}

TEST(MultiScaleBlock, WindowNotDividingTheSizeMatchesReference) {
  MultiScaleBlockOptions options;
  options.dim = 8;
  options.dim_out = 8;
  options.num_heads = 2;
  options.window_size = 5;  // on 12x13
  CheckBlock("block_win5", options);
}

TEST(MultiScaleBlock, GlobalAttentionMatchesReference) {
  MultiScaleBlockOptions options;
  options.dim = 8;
  options.dim_out = 8;
  options.num_heads = 1;
  options.window_size = 0;
  CheckBlock("block_global", options);
}

TEST(Hiera, BuildsStagesLikeTheReference) {
  // sam2.1_hiera_t: stages [1, 2, 7, 2], global attention in 5, 7, 9.
  HieraOptions options;
  options.stages = {1, 2, 7, 2};
  options.global_att_blocks = {5, 7, 9};
  options.window_pos_embed_bkg_spatial_size = {7, 7};
  options.drop_path_rate = 0.2;
  Hiera trunk(options);
  EXPECT_EQ(trunk->stage_ends(), (std::vector<int64_t>{0, 2, 9, 11}));
  EXPECT_EQ(trunk->channel_list(), (std::vector<int64_t>{768, 384, 192, 96}));
  ASSERT_EQ(trunk->get_num_layers(), 12);
  auto block = [&](int i) {
    return trunk->blocks->ptr<MultiScaleBlockImpl>(i)->options();
  };
  // The window size lags a block behind the stage change.
  EXPECT_EQ(block(0).window_size, 8);
  EXPECT_EQ(block(1).window_size, 8);
  EXPECT_TRUE(block(1).q_stride.has_value());
  EXPECT_EQ(block(1).dim_out, 192);
  EXPECT_EQ(block(1).num_heads, 2);
  EXPECT_EQ(block(2).window_size, 4);
  EXPECT_FALSE(block(2).q_stride.has_value());
  EXPECT_EQ(block(3).window_size, 4);
  EXPECT_EQ(block(4).window_size, 14);
  EXPECT_EQ(block(5).window_size, 0);
  EXPECT_EQ(block(10).window_size, 14);
  EXPECT_TRUE(block(10).q_stride.has_value());
  EXPECT_EQ(block(11).window_size, 7);
  EXPECT_EQ(block(11).num_heads, 8);
  // Linear stochastic depth.
  EXPECT_DOUBLE_EQ(block(0).drop_path, 0.0);
  EXPECT_NEAR(block(11).drop_path, 0.2, 1e-7);
  EXPECT_NEAR(block(6).drop_path, 0.2 * 6 / 11, 1e-7);

  EXPECT_EQ(trunk->get_layer_id("image_encoder.trunk.pos_embed"), 0);
  EXPECT_EQ(trunk->get_layer_id("image_encoder.trunk.patch_embed.proj.weight"),
            0);
  EXPECT_EQ(trunk->get_layer_id("image_encoder.trunk.blocks.7.attn.qkv.weight"),
            8);
  EXPECT_EQ(trunk->get_layer_id("image_encoder.neck.convs.0.conv.weight"), 13);
}

TEST(Hiera, DropPathOnlyInTraining) {
  HieraOptions options;
  options.embed_dim = 8;
  options.stages = {1, 1};
  options.window_spec = {4, 2};
  options.global_att_blocks = {};
  options.q_pool = 1;
  options.window_pos_embed_bkg_spatial_size = {4, 4};
  options.drop_path_rate = 0.9;
  Hiera trunk(options);
  at::NoGradGuard no_grad;
  at::Tensor image = at::randn({4, 3, 32, 32});
  trunk->eval();
  std::vector<at::Tensor> a = trunk->forward(image);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].sizes(), (std::vector<int64_t>{4, 8, 8, 8}));
  EXPECT_EQ(a[1].sizes(), (std::vector<int64_t>{4, 16, 4, 4}));
  EXPECT_TRUE(at::equal(trunk->forward(image)[1], a[1]));
  trunk->train();
  at::manual_seed(0);
  at::Tensor b = trunk->forward(image)[1];
  EXPECT_FALSE(at::allclose(a[1], b));
  at::manual_seed(0);
  EXPECT_TRUE(at::equal(trunk->forward(image)[1], b));
}

}  // namespace
}  // namespace sam2::modeling
