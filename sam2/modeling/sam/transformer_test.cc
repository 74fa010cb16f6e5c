// Attention layers against the reference (testdata/attention_golden.pt,
// written by the reference modules on torch 1.13 / CPU / float32).
#include "sam2/modeling/sam/transformer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

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
      LoadGolden("sam2/modeling/sam/testdata/attention_golden.pt"));
  return *golden;
}

// Memory cross-attention's configuration: keys/values of another width,
// frequencies tiled over several frames of keys, object-pointer keys left
// unrotated.
RoPEAttentionOptions CrossAttentionOptions() {
  RoPEAttentionOptions options(32, 2);
  options.dropout = 0.1;
  options.kv_in_dim = 16;
  options.rope_k_repeat = true;
  options.feat_sizes = {4, 4};
  return options;
}

TEST(RoPEAttention, ForwardAndGradientsMatchReference) {
  RoPEAttention attn(CrossAttentionOptions());
  LoadPrefixed(*attn, Golden(), "rope_attn.param.");
  attn->eval();
  at::Tensor q = Get(Golden(), "rope_attn.q").clone().requires_grad_();
  at::Tensor k = Get(Golden(), "rope_attn.k").clone().requires_grad_();
  at::Tensor v = Get(Golden(), "rope_attn.v").clone().requires_grad_();
  at::Tensor out = attn->forward(q, k, v, /*num_k_exclude_rope=*/3);
  EXPECT_TRUE(ForwardClose(out, Get(Golden(), "rope_attn.out")));
  (out * Get(Golden(), "rope_attn.weight")).sum().backward();
  EXPECT_TRUE(GradClose(q.grad(), Get(Golden(), "rope_attn.grad_q"), 0));
  EXPECT_TRUE(GradClose(k.grad(), Get(Golden(), "rope_attn.grad_k"), 0));
  EXPECT_TRUE(GradClose(v.grad(), Get(Golden(), "rope_attn.grad_v"), 0));
  // k_proj.bias gets only rounding noise: softmax ignores a constant added to
  // every key.
  const double floor =
      1e-6 * testing::MaxAbs(Get(Golden(), "rope_attn.grad_q"));
  for (const auto& item : attn->named_parameters()) {
    EXPECT_TRUE(GradClose(item.value().grad(),
                          Get(Golden(), "rope_attn.grad." + item.key()), floor))
        << item.key();
  }
}

TEST(RoPEAttention, RecomputesFrequenciesForAnotherSquareGrid) {
  RoPEAttention attn(CrossAttentionOptions());
  LoadPrefixed(*attn, Golden(), "rope_attn.param.");
  attn->eval();
  at::NoGradGuard no_grad;
  at::Tensor k = Get(Golden(), "rope_attn.k36");
  at::Tensor out = attn->forward(Get(Golden(), "rope_attn.q36"), k, k);
  EXPECT_EQ(attn->freqs_cis().size(0), 36);
  EXPECT_TRUE(ForwardClose(out, Get(Golden(), "rope_attn.out36")));
  // A non-square query count cannot be mapped to a grid.
  EXPECT_THROW(attn->forward(at::randn({1, 35, 32}), at::randn({1, 35, 16}),
                             at::randn({1, 35, 16})),
               c10::Error);
}

TEST(RoPEAttention, KeysLongerThanQueriesNeedRepeat) {
  RoPEAttentionOptions options(32, 2);
  options.feat_sizes = {4, 4};
  RoPEAttention attn(options);
  EXPECT_THROW(attn->forward(at::randn({1, 16, 32}), at::randn({1, 32, 32}),
                             at::randn({1, 32, 32})),
               c10::Error);
}

TEST(RoPEAttention, FrequenciesAreNotState) {
  RoPEAttention attn(CrossAttentionOptions());
  EXPECT_TRUE(attn->named_buffers().is_empty());
  std::vector<std::string> names;
  for (const auto& item : attn->named_parameters()) names.push_back(item.key());
  EXPECT_EQ(names, (std::vector<std::string>{
                       "q_proj.weight", "q_proj.bias", "k_proj.weight",
                       "k_proj.bias", "v_proj.weight", "v_proj.bias",
                       "out_proj.weight", "out_proj.bias"}));
  EXPECT_EQ(attn->k_proj->weight.sizes(), (std::vector<int64_t>{32, 16}));
}

TEST(RoPEAttention, DropoutOnlyInTraining) {
  RoPEAttention attn(CrossAttentionOptions());
  at::NoGradGuard no_grad;
  at::Tensor q = at::randn({1, 16, 32}), k = at::randn({1, 32, 16});
  attn->eval();
  at::Tensor a = attn->forward(q, k, k);
  EXPECT_TRUE(at::equal(attn->forward(q, k, k), a));
  attn->train();
  at::Tensor b = attn->forward(q, k, k);
  EXPECT_FALSE(at::allclose(a, b));
}

TEST(Attention, DownsampledMatchesReference) {
  AttentionOptions options(32, 4);
  options.downsample_rate = 2;
  Attention attn(options);
  EXPECT_EQ(attn->internal_dim(), 16);
  LoadPrefixed(*attn, Golden(), "attn.param.");
  at::Tensor out =
      attn->forward(Get(Golden(), "attn.q"), Get(Golden(), "attn.k"),
                    Get(Golden(), "attn.v"));
  EXPECT_TRUE(ForwardClose(out, Get(Golden(), "attn.out")));
}

TEST(TwoWayTransformer, ParameterNamesMirrorReference) {
  TwoWayTransformer transformer(TwoWayTransformerOptions(2, 64, 8, 2048));
  auto params = transformer->named_parameters();
  EXPECT_TRUE(params.contains("layers.0.self_attn.q_proj.weight"));
  EXPECT_TRUE(
      params.contains("layers.1.cross_attn_image_to_token.out_proj.bias"));
  EXPECT_TRUE(params.contains("layers.1.mlp.layers.1.weight"));
  EXPECT_TRUE(params.contains("final_attn_token_to_image.k_proj.weight"));
  EXPECT_TRUE(params.contains("norm_final_attn.weight"));
  // Cross attentions work at half width.
  EXPECT_EQ(params["layers.0.cross_attn_token_to_image.q_proj.weight"].sizes(),
            (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(params.size(), 2u * 36u + 8u + 2u);
}

}  // namespace
}  // namespace sam2::modeling
