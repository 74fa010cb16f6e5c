// Tests of sam2_utils and position_encoding against the reference
// implementation's numbers (testdata/units_golden.pt, written by the
// reference modules on torch 1.13 / CPU / float32) and behaviour tests.
#include "sam2/modeling/sam2_utils.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/function.h>

#include <map>
#include <string>
#include <vector>

#include "sam2/modeling/batched_matmul.h"
#include "sam2/modeling/dropout.h"
#include "sam2/modeling/position_encoding.h"
#include "sam2/modeling/test_util.h"

namespace sam2::modeling {
namespace {

using testing::ForwardClose;
using testing::Get;
using testing::LoadGolden;
using testing::LoadPrefixed;
using testing::TensorMap;

const TensorMap& Golden() {
  static const TensorMap* golden =
      new TensorMap(LoadGolden("sam2/modeling/testdata/units_golden.pt"));
  return *golden;
}

// Max error 0 is expected for these pure elementwise ops; the forward
// tolerance still applies.
TEST(Get1dSinePe, MatchesReference) {
  at::Tensor out = Get1dSinePe(Get(Golden(), "sine1d.pos"), 32);
  EXPECT_TRUE(ForwardClose(out, Get(Golden(), "sine1d.out"), 1e-6));
}

TEST(PositionEmbeddingSine, MatchesReferenceSquareAndNonSquare) {
  PositionEmbeddingSine pe64(PositionEmbeddingSineOptions(64));
  at::Tensor out = pe64->forward(at::zeros({2, 1, 16, 16}));
  EXPECT_TRUE(ForwardClose(out, Get(Golden(), "sine2d.16x16"), 1e-6));
  // Second call comes from the cache and must be the same.
  EXPECT_TRUE(at::equal(pe64->forward(at::zeros({2, 5, 16, 16})), out));
  EXPECT_FALSE(out.requires_grad());

  PositionEmbeddingSine pe32(PositionEmbeddingSineOptions(32));
  EXPECT_TRUE(ForwardClose(pe32->forward(at::zeros({1, 1, 8, 12})),
                           Get(Golden(), "sine2d.8x12"), 1e-6));

  PositionEmbeddingSineOptions unnorm(32);
  unnorm.normalize = false;
  PositionEmbeddingSine pe_unnorm(unnorm);
  EXPECT_TRUE(ForwardClose(pe_unnorm->forward(at::zeros({1, 1, 8, 12})),
                           Get(Golden(), "sine2d.unnorm_8x12"), 1e-6));
}

TEST(PositionEmbeddingSine, HasNoState) {
  PositionEmbeddingSine pe(PositionEmbeddingSineOptions(64));
  EXPECT_TRUE(pe->named_parameters().is_empty());
  EXPECT_TRUE(pe->named_buffers().is_empty());
}

TEST(PositionEmbeddingRandom, MatchesReference) {
  PositionEmbeddingRandom pe(PositionEmbeddingRandomOptions(16));
  ASSERT_EQ(pe->named_buffers().size(), 1u);
  EXPECT_TRUE(
      pe->named_buffers().contains("positional_encoding_gaussian_matrix"));
  EXPECT_TRUE(pe->named_parameters().is_empty());
  at::NoGradGuard no_grad;
  pe->positional_encoding_gaussian_matrix.copy_(
      Get(Golden(), "random.gaussian"));
  EXPECT_TRUE(
      ForwardClose(pe->forward({6, 10}), Get(Golden(), "random.grid_6x10")));
  EXPECT_TRUE(ForwardClose(
      pe->forward_with_coords(Get(Golden(), "random.coords"), {80, 120}),
      Get(Golden(), "random.with_coords")));
}

TEST(Rope, AxialCisMatchesReference) {
  EXPECT_TRUE(ForwardClose(ComputeAxialCis(16, 6, 4),
                           Get(Golden(), "axial_cis.16_6_4"), 1e-6));
}

TEST(Rope, ApplyRotaryEncWithRepeatedKeysMatchesReference) {
  auto [q, k] =
      ApplyRotaryEnc(Get(Golden(), "rope.xq"), Get(Golden(), "rope.xk"),
                     ComputeAxialCis(16, 6, 4),
                     /*repeat_freqs_k=*/true);
  EXPECT_TRUE(ForwardClose(q, Get(Golden(), "rope.q"), 1e-5));
  EXPECT_TRUE(ForwardClose(k, Get(Golden(), "rope.k"), 1e-5));
}

TEST(Rope, EmptyKeysPassThroughAndRotationKeepsNorms) {
  at::Tensor xq = at::randn({1, 2, 24, 16});
  at::Tensor xk = at::randn({1, 2, 0, 16});
  auto [q, k] = ApplyRotaryEnc(xq, xk, ComputeAxialCis(16, 6, 4));
  EXPECT_EQ(k.size(2), 0);
  // A rotation of each channel pair keeps the pair's norm.
  auto pair_norms = [](const at::Tensor& x) {
    return x.reshape({1, 2, 24, 8, 2}).norm(2, -1);
  };
  EXPECT_TRUE(at::allclose(pair_norms(q), pair_norms(xq), 1e-5, 1e-5));
}

TEST(LayerNorm2d, MatchesReference) {
  LayerNorm2d ln(6);
  LoadPrefixed(*ln, Golden(), "ln2d.param.");
  EXPECT_TRUE(ForwardClose(ln->forward(Get(Golden(), "ln2d.x")),
                           Get(Golden(), "ln2d.out"), 1e-5));
}

// With gradients the module runs as one node with a closed-form backward:
// its values are bitwise those without, and its gradients those of autograd
// through the reference's ops.
TEST(LayerNorm2d, FusedNodeMatchesOpByOpAutograd) {
  at::manual_seed(3);
  LayerNorm2d ln(5);
  {
    at::NoGradGuard no_grad;
    ln->weight.copy_(at::randn({5}));
    ln->bias.copy_(at::randn({5}));
  }
  const at::Tensor x0 = at::randn({2, 5, 6, 7}) * 3 + 1;
  at::Tensor plain_out;
  {
    at::NoGradGuard no_grad;
    plain_out = ln->forward(x0);
  }
  at::Tensor x1 = x0.clone().requires_grad_();
  const at::Tensor fused_out = ln->forward(x1);
  EXPECT_TRUE(at::equal(fused_out, plain_out));
  const at::Tensor g = at::randn(fused_out.sizes());
  fused_out.backward(g);
  const at::Tensor fused_dx = x1.grad().clone();
  const at::Tensor fused_dw = ln->weight.grad().clone();
  const at::Tensor fused_db = ln->bias.grad().clone();

  // The reference's ops, recorded by autograd.
  at::Tensor x2 = x0.clone().requires_grad_();
  const at::Tensor w = ln->weight.detach().clone().requires_grad_();
  const at::Tensor b = ln->bias.detach().clone().requires_grad_();
  const at::Tensor u = x2.mean(1, true);
  const at::Tensor var = (x2 - u).pow(2).mean(1, true);
  const at::Tensor out =
      w.view({5, 1, 1}) * ((x2 - u) / at::sqrt(var + 1e-6)) + b.view({5, 1, 1});
  out.backward(g);
  EXPECT_TRUE(at::allclose(fused_dx, x2.grad(), 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(fused_dw, w.grad(), 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(fused_db, b.grad(), 1e-5, 1e-5));
}

// A GELU MLP on the CPU with gradients runs each GELU and the layer after
// it as one node: values bitwise as without gradients, gradients as
// autograd's through the separate ops.
TEST(MLP, FusedGeluLinearMatchesOpByOpAutograd) {
  at::manual_seed(5);
  MLPOptions options(6, 24, 5, 3);
  options.activation = Activation::kGelu;
  MLP mlp(options);
  const at::Tensor x0 = at::randn({2, 7, 6});
  at::Tensor plain_out;
  {
    at::NoGradGuard no_grad;
    plain_out = mlp->forward(x0);
  }
  at::Tensor x1 = x0.clone().requires_grad_();
  const at::Tensor fused_out = mlp->forward(x1);
  EXPECT_TRUE(at::equal(fused_out, plain_out));
  const at::Tensor g = at::randn(fused_out.sizes());
  fused_out.backward(g);

  at::Tensor x2 = x0.clone().requires_grad_();
  std::vector<at::Tensor> weights, biases;
  at::Tensor out = x2;
  for (size_t i = 0; i < mlp->linears().size(); ++i) {
    weights.push_back(
        mlp->linears()[i]->weight.detach().clone().requires_grad_());
    biases.push_back(mlp->linears()[i]->bias.detach().clone().requires_grad_());
    if (i > 0) out = at::gelu(out);
    out = at::linear(out, weights.back(), biases.back());
  }
  out.backward(g);
  EXPECT_TRUE(at::allclose(x1.grad(), x2.grad(), 1e-5, 1e-6));
  for (size_t i = 0; i < weights.size(); ++i) {
    EXPECT_TRUE(at::allclose(mlp->linears()[i]->weight.grad(),
                             weights[i].grad(), 1e-5, 1e-6))
        << "layer " << i;
    EXPECT_TRUE(at::allclose(mlp->linears()[i]->bias.grad(), biases[i].grad(),
                             1e-5, 1e-6))
        << "layer " << i;
  }
}

// Linear layers with a bias in a CPU training step run as one node: values
// and gradients bitwise those of at::linear op by op, for 2-D, contiguous and
// non-contiguous 3-D and 4-D inputs, and with inputs that need no gradient.
// Layers without a bias, and 3-D inputs that at::matmul multiplies per batch
// item, stay op by op.
TEST(ApplyLinear, OneNodeIsBitwiseTheOpsOneByOne) {
  at::manual_seed(21);
  const at::Tensor contiguous3 = at::randn({3, 9, 12});
  const std::vector<std::pair<std::string, at::Tensor>> inputs = {
      {"2-D", at::randn({17, 12})},
      {"3-D", contiguous3},
      {"3-D transposed", at::randn({3, 12, 9}).transpose(1, 2)},
      {"3-D sliced", at::randn({3, 9, 20}).narrow(2, 4, 12)},
      {"4-D", at::randn({2, 5, 4, 12})},
      {"4-D permuted", at::randn({2, 12, 5, 4}).permute({0, 2, 3, 1})},
  };
  for (const bool with_bias : {true, false}) {
    for (const bool input_grad : {true, false}) {
      for (const auto& [name, x0] : inputs) {
        const std::string what = name + (with_bias ? " bias" : " no bias") +
                                 (input_grad ? "" : " no input grad");
        torch::nn::Linear linear(
            torch::nn::LinearOptions(12, 7).bias(with_bias));
        at::Tensor x1 = x0.clone().requires_grad_(input_grad);
        const at::Tensor fused = ApplyLinear(linear, x1);
        ASSERT_NE(fused.grad_fn(), nullptr);
        const bool one_node = with_bias && name != "3-D transposed";
        EXPECT_EQ(
            fused.grad_fn()->name().find("LinearFunction") != std::string::npos,
            one_node)
            << what << ": " << fused.grad_fn()->name();
        const at::Tensor g = at::randn(fused.sizes());
        fused.backward(g);

        const at::Tensor w = linear->weight.detach().clone().requires_grad_();
        const at::Tensor b =
            with_bias ? linear->bias.detach().clone().requires_grad_()
                      : at::Tensor();
        at::Tensor x2 = x0.clone().requires_grad_(input_grad);
        const at::Tensor plain = at::linear(x2, w, b);
        plain.backward(g);

        EXPECT_TRUE(at::equal(fused, plain)) << what;
        if (input_grad) {
          EXPECT_TRUE(at::equal(x1.grad(), x2.grad())) << what;
        } else {
          EXPECT_FALSE(x1.grad().defined()) << what;
        }
        EXPECT_TRUE(at::equal(linear->weight.grad(), w.grad())) << what;
        if (with_bias) {
          EXPECT_TRUE(at::equal(linear->bias.grad(), b.grad())) << what;
        }
      }
    }
  }
  // Without autograd it is at::linear itself.
  torch::nn::Linear linear(12, 7);
  at::NoGradGuard no_grad;
  EXPECT_EQ(ApplyLinear(linear, contiguous3).grad_fn(), nullptr);
}

// Large attention in a CPU training step runs as one node that recomputes
// the attention matrix in the backward pass: values and gradients bitwise
// those of the ops one by one, dropout included (same keep mask).
TEST(ScaledDotProductAttention, RecomputingNodeIsBitwiseTheOpsOneByOne) {
  for (const double dropout_p : {0.0, 0.1}) {
    at::manual_seed(11);
    const at::Tensor q0 = at::randn({2, 2, 300, 16});
    const at::Tensor k0 = at::randn({2, 2, 500, 16});
    const at::Tensor v0 = at::randn({2, 2, 500, 8});
    const at::Tensor g = at::randn({2, 2, 300, 8});
    at::Tensor q1 = q0.clone().requires_grad_(),
               k1 = k0.clone().requires_grad_(),
               v1 = v0.clone().requires_grad_();
    at::manual_seed(5);
    const at::Tensor fused = ScaledDotProductAttention(q1, k1, v1, dropout_p);
    fused.backward(g);

    at::Tensor q2 = q0.clone().requires_grad_(),
               k2 = k0.clone().requires_grad_(),
               v2 = v0.clone().requires_grad_();
    at::manual_seed(5);
    at::Tensor attn = at::softmax(
        BatchedMatmul(q2 * (1.0 / std::sqrt(16.0)), k2.transpose(-2, -1)), -1);
    attn = Dropout(attn, dropout_p, /*train=*/true);
    const at::Tensor plain = BatchedMatmul(attn, v2);
    plain.backward(g);

    EXPECT_TRUE(at::equal(fused, plain)) << dropout_p;
    // Written tokens-major, for the heads' recombination.
    EXPECT_TRUE(fused.transpose(1, 2).is_contiguous());
    EXPECT_TRUE(at::equal(q1.grad(), q2.grad())) << dropout_p;
    EXPECT_TRUE(at::equal(k1.grad(), k2.grad())) << dropout_p;
    EXPECT_TRUE(at::equal(v1.grad(), v2.grad())) << dropout_p;
  }
}

TEST(MLP, MatchesReferenceWithSigmoidAndNamesLayers) {
  MLPOptions options(8, 12, 3, 3);
  options.sigmoid_output = true;
  MLP mlp(options);
  std::vector<std::string> names;
  for (const auto& item : mlp->named_parameters()) names.push_back(item.key());
  EXPECT_EQ(names, (std::vector<std::string>{
                       "layers.0.weight", "layers.0.bias", "layers.1.weight",
                       "layers.1.bias", "layers.2.weight", "layers.2.bias"}));
  LoadPrefixed(*mlp, Golden(), "mlp.param.");
  EXPECT_TRUE(ForwardClose(mlp->forward(Get(Golden(), "mlp.x")),
                           Get(Golden(), "mlp.out"), 1e-5));
}

TEST(DropPath, IdentityInEvalAndPerSampleInTraining) {
  at::Tensor x = at::ones({64, 3, 4});
  DropPath drop(0.5);
  drop->eval();
  EXPECT_TRUE(at::equal(drop->forward(x), x));
  drop->train();
  at::manual_seed(3);
  at::Tensor y = drop->forward(x);
  // Each sample is either dropped or scaled by 1 / keep_prob, as a whole.
  int dropped = 0;
  for (int64_t i = 0; i < 64; ++i) {
    const double lo = y[i].min().item<double>(), hi = y[i].max().item<double>();
    EXPECT_EQ(lo, hi);
    EXPECT_TRUE(lo == 0.0 || lo == 2.0) << lo;
    dropped += lo == 0.0;
  }
  EXPECT_GT(dropped, 10);
  EXPECT_LT(dropped, 54);
  // Same seed, same draws (the global generator is the only source).
  at::manual_seed(3);
  EXPECT_TRUE(at::equal(drop->forward(x), y));
  DropPath none(0.0);
  none->train();
  EXPECT_TRUE(at::equal(none->forward(x), x));
}

TEST(Activation, AppliesTheReferencesFunctions) {
  at::Tensor x = at::tensor({-1.0f, 0.5f, 2.0f});
  EXPECT_TRUE(at::equal(ApplyActivation(Activation::kRelu, x), at::relu(x)));
  const at::Tensor pair = at::tensor({1.0f, 2.0f, 0.0f, 3.0f});
  EXPECT_TRUE(
      at::equal(ApplyActivation(Activation::kGlu, pair), at::glu(pair, -1)));
  // Exact GELU, not the tanh approximation.
  EXPECT_NEAR(ApplyActivation(Activation::kGelu, x)[0].item<float>(),
              -0.15865525f, 1e-7);
}

TEST(SelectClosestCondFrames, AllWhenUnderLimit) {
  CondFrameSelection sel = SelectClosestCondFrames(5, {7, 0, 3}, -1);
  EXPECT_EQ(sel.selected, (std::vector<int64_t>{7, 0, 3}));
  EXPECT_TRUE(sel.unselected.empty());
  sel = SelectClosestCondFrames(5, {7, 0, 3}, 3);
  EXPECT_EQ(sel.selected, (std::vector<int64_t>{7, 0, 3}));
}

TEST(SelectClosestCondFrames, BeforeAfterThenClosest) {
  // Frame 10: closest before is 8, closest at/after is 10; then by distance
  // (12 at 2 wins over 6 at 4; ties keep input order).
  CondFrameSelection sel =
      SelectClosestCondFrames(10, {0, 6, 8, 10, 12, 20}, 3);
  EXPECT_EQ(sel.selected, (std::vector<int64_t>{8, 10, 12}));
  EXPECT_EQ(sel.unselected, (std::vector<int64_t>{0, 6, 20}));
  sel = SelectClosestCondFrames(10, {14, 6, 2, 18}, 3);
  EXPECT_EQ(sel.selected, (std::vector<int64_t>{6, 14, 2}));  // 2 vs 18: tie
  EXPECT_EQ(sel.unselected, (std::vector<int64_t>{18}));
  // Only frames after the current one.
  sel = SelectClosestCondFrames(0, {3, 1, 2}, 2);
  EXPECT_EQ(sel.selected, (std::vector<int64_t>{1, 2}));

  std::map<int64_t, std::string> outputs = {{1, "a"}, {4, "b"}, {9, "c"}};
  auto [selected, unselected] = SelectClosestCondFrames(5, outputs, 2);
  EXPECT_EQ(selected, (std::map<int64_t, std::string>{{4, "b"}, {9, "c"}}));
  EXPECT_EQ(unselected, (std::map<int64_t, std::string>{{1, "a"}}));
}

TEST(CopyParametersAndBuffers, MakesIdenticalClones) {
  MLP a(MLPOptions(4, 8, 2, 2));
  MLP b(MLPOptions(4, 8, 2, 2));
  at::Tensor x = at::randn({3, 4});
  EXPECT_FALSE(at::equal(a->forward(x), b->forward(x)));
  CopyParametersAndBuffers(*a, *b);
  EXPECT_TRUE(at::equal(a->forward(x), b->forward(x)));
  // Copies, not shared storage.
  EXPECT_NE(a->linears()[0]->weight.data_ptr(),
            b->linears()[0]->weight.data_ptr());
  MLP other(MLPOptions(4, 8, 2, 3));
  EXPECT_THROW(CopyParametersAndBuffers(*a, *other), c10::Error);
}

TEST(ScaledDotProductAttention, MatchesSoftmaxFormula) {
  at::Tensor q = at::randn({2, 3, 5, 8});
  at::Tensor k = at::randn({2, 3, 7, 8});
  at::Tensor v = at::randn({2, 3, 7, 4});
  at::Tensor expected =
      at::softmax(at::matmul(q, k.transpose(-2, -1)) / std::sqrt(8.0), -1)
          .matmul(v);
  EXPECT_TRUE(
      at::allclose(ScaledDotProductAttention(q, k, v), expected, 1e-5, 1e-6));
}

}  // namespace
}  // namespace sam2::modeling
