// Parity of MemoryEncoder and MemoryAttention with the reference, on the
// parity-small model's weights and on inputs captured from one reference
// tracking run (testdata/memory_parity.pt, written by
// /work/notes/model_b_tools/dump_memory.py: the memory encoder call of frame
// 1 and the memory attention call of frame 2 of the mask-prompt scenario).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>

#include "sam2/checkpoint/state_dict.h"
#include "sam2/checkpoint/torch_file.h"
#include "sam2/modeling/dropout.h"
#include "sam2/modeling/memory_attention.h"
#include "sam2/modeling/memory_encoder.h"

namespace sam2::modeling {
namespace {

std::string Runfile(const std::string& path) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/sam2_train_cpp/" + path;
}

std::map<std::string, at::Tensor> LoadIo() {
  auto dict = checkpoint::LoadTensorDict(
      Runfile("sam2/modeling/testdata/memory_parity.pt"));
  EXPECT_TRUE(dict.ok()) << dict.status();
  return {dict->begin(), dict->end()};
}

// Loads the parity model's tensors under `prefix` into `module`, strictly.
void LoadWeights(torch::nn::Module& module, const std::string& prefix) {
  auto state = checkpoint::LoadStateDict(
      Runfile("tests/testdata/parity/parity_small_model.pt"));
  ASSERT_TRUE(state.ok()) << state.status();
  checkpoint::TensorDict sub;
  for (const auto& [name, tensor] : *state) {
    if (name.rfind(prefix, 0) == 0) {
      sub.emplace_back(name.substr(prefix.size()), tensor);
    }
  }
  auto report =
      checkpoint::LoadStateDictIntoModel(module, sub, {}, "parity_small");
  ASSERT_TRUE(report.ok()) << report.status();
}

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a - b).abs().max().item<double>();
}

double Tolerance(const at::Tensor& ref) {
  return 1e-3 * std::max(1.0, ref.abs().max().item<double>());
}

MemoryEncoderOptions ParitySmallEncoder() {
  MemoryEncoderOptions o;
  o.out_dim = 32;
  o.in_dim = 64;
  o.position_encoding.num_pos_feats = 32;
  o.mask_downsampler.embed_dim = 64;
  o.fuser.layer.dim = 64;
  return o;
}

MemoryAttentionOptions ParitySmallAttention() {
  MemoryAttentionOptions o;
  o.d_model = 64;
  o.num_layers = 2;
  o.layer.d_model = 64;
  o.layer.dim_feedforward = 256;
  for (auto* a : {&o.layer.self_attention, &o.layer.cross_attention}) {
    a->rope.embedding_dim = 64;
    a->rope.feat_sizes = {16, 16};
  }
  o.layer.cross_attention.rope.kv_in_dim = 32;
  return o;
}

TEST(MemoryEncoderTest, MatchesReference) {
  MemoryEncoder encoder(ParitySmallEncoder());
  LoadWeights(*encoder, "memory_encoder.");
  encoder->eval();
  const auto io = LoadIo();
  at::NoGradGuard no_grad;
  const MemoryEncoderOutput out =
      encoder->forward(io.at("enc.pix_feat"), io.at("enc.masks"),
                       io.at("enc.skip_mask_sigmoid").item<bool>());
  const at::Tensor& ref = io.at("enc.vision_features");
  const double err = MaxAbsDiff(out.vision_features, ref);
  EXPECT_LE(err, Tolerance(ref));
  RecordProperty("max_abs_err_features", std::to_string(err));
  EXPECT_LE(MaxAbsDiff(out.vision_pos_enc, io.at("enc.vision_pos_enc")), 1e-5);
}

TEST(MemoryAttentionTest, MatchesReference) {
  MemoryAttention attention(ParitySmallAttention());
  LoadWeights(*attention, "memory_attention.");
  attention->eval();
  const auto io = LoadIo();
  const int64_t num_ptr = io.at("att.num_obj_ptr_tokens").item<int64_t>();
  ASSERT_GT(num_ptr, 0);  // the call exercises the keys excluded from RoPE
  at::NoGradGuard no_grad;
  const at::Tensor out = attention->forward(
      io.at("att.curr"), io.at("att.memory"), io.at("att.curr_pos"),
      io.at("att.memory_pos"), num_ptr);
  const at::Tensor& ref = io.at("att.output");
  const double err = MaxAbsDiff(out, ref);
  EXPECT_LE(err, Tolerance(ref));
  RecordProperty("max_abs_err", std::to_string(err));
}

TEST(MemoryModulesTest, ParameterNamesMatchOfficialLayout) {
  MemoryEncoder encoder(MemoryEncoderOptions{});
  std::vector<std::string> names;
  for (const auto& p : encoder->named_parameters()) names.push_back(p.key());
  // First and last entries of the official hiera_t keys under memory_encoder.
  EXPECT_EQ(names.front(), "mask_downsampler.encoder.0.weight");
  EXPECT_EQ(names.back(), "out_proj.bias");
  EXPECT_EQ(names.size(), 40u);
  const auto params = encoder->named_parameters();
  EXPECT_EQ(params["mask_downsampler.encoder.12.weight"].sizes(),
            (std::vector<int64_t>{256, 256, 1, 1}));
  EXPECT_EQ(params["fuser.layers.1.dwconv.weight"].sizes(),
            (std::vector<int64_t>{256, 1, 7, 7}));
  EXPECT_EQ(params["fuser.layers.0.gamma"].sizes(),
            (std::vector<int64_t>{256}));

  MemoryAttention attention(MemoryAttentionOptions{});
  const auto ap = attention->named_parameters();
  EXPECT_EQ(ap.size(), 106u);
  EXPECT_EQ(ap["layers.3.cross_attn_image.k_proj.weight"].sizes(),
            (std::vector<int64_t>{256, 64}));
  EXPECT_EQ(ap["layers.0.linear1.weight"].sizes(),
            (std::vector<int64_t>{2048, 256}));
  EXPECT_TRUE(ap.contains("norm.bias"));
}

TEST(MemoryAttentionTest, DropoutOnlyInTraining) {
  MemoryAttentionOptions o = ParitySmallAttention();
  MemoryAttention attention(o);
  const at::Tensor curr = at::randn({256, 1, 64});
  const at::Tensor memory = at::randn({256 + 4, 1, 32});
  const at::Tensor pos = at::randn({256, 1, 64});
  const at::Tensor mpos = at::randn({256 + 4, 1, 32});
  attention->eval();
  const at::Tensor a = attention->forward(curr, memory, pos, mpos, 4);
  const at::Tensor b = attention->forward(curr, memory, pos, mpos, 4);
  EXPECT_TRUE(at::equal(a, b));
  attention->train();
  const at::Tensor c = attention->forward(curr, memory, pos, mpos, 4);
  EXPECT_FALSE(at::allclose(a, c));
}

// The feed-forward tail in CPU training: one node, bitwise the ops' values
// (the same dropout keep mask from the same seed), gradients as autograd's.
TEST(ReluDropoutLinear, FusedNodeMatchesOpByOpAutograd) {
  for (double p : {0.0, 0.1}) {
    torch::nn::Linear linear(24, 5);
    const at::Tensor h0 = at::randn({3, 7, 24});
    at::Tensor h1 = h0.clone().requires_grad_();
    at::manual_seed(11);
    const at::Tensor fused = ReluDropoutLinear(h1, linear, p);
    const at::Tensor g = at::randn(fused.sizes());
    fused.backward(g);

    at::Tensor h2 = h0.clone().requires_grad_();
    const at::Tensor w = linear->weight.detach().clone().requires_grad_();
    const at::Tensor b = linear->bias.detach().clone().requires_grad_();
    at::manual_seed(11);
    const at::Tensor ops =
        at::linear(Dropout(at::relu(h2), p, /*train=*/true), w, b);
    ASSERT_TRUE(at::equal(fused, ops)) << p;
    ops.backward(g);
    EXPECT_TRUE(at::allclose(h1.grad(), h2.grad(), 1e-5, 1e-6)) << p;
    EXPECT_TRUE(at::allclose(linear->weight.grad(), w.grad(), 1e-5, 1e-6));
    EXPECT_TRUE(at::allclose(linear->bias.grad(), b.grad(), 1e-5, 1e-6));
    {
      at::NoGradGuard no_grad;
      at::manual_seed(11);
      EXPECT_TRUE(at::equal(ReluDropoutLinear(h0, linear, p), fused)) << p;
    }
  }
}

}  // namespace
}  // namespace sam2::modeling
