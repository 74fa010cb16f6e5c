// PromptEncoder + MaskDecoder of the small parity model
// (tests/testdata/parity) against the reference modules' outputs and
// gradients (testdata/sam_heads_golden.pt, written by the reference on torch
// 1.13 / CPU / float32), plus behaviour tests on synthetic inputs.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sam2/modeling/sam/mask_decoder.h"
#include "sam2/modeling/sam/prompt_encoder.h"
#include "sam2/modeling/test_util.h"

namespace sam2::modeling {
namespace {

using testing::ForwardClose;
using testing::Get;
using testing::GradClose;
using testing::LoadGolden;
using testing::LoadModelStateDict;
using testing::LoadPrefixed;
using testing::TensorMap;

constexpr char kModel[] = "tests/testdata/parity/parity_small_model.pt";
constexpr char kGolden[] = "sam2/modeling/sam/testdata/sam_heads_golden.pt";

// What SAM2Base builds for tests/testdata/parity/parity_small.yaml.
PromptEncoderOptions ParityPromptEncoderOptions() {
  PromptEncoderOptions options;
  options.embed_dim = 64;
  options.image_embedding_size = {16, 16};
  options.input_image_size = {256, 256};
  options.mask_in_chans = 16;
  return options;
}

MaskDecoderOptions ParityMaskDecoderOptions() {
  MaskDecoderOptions options;
  options.transformer_dim = 64;
  options.transformer = TwoWayTransformerOptions(2, 64, 8, 2048);
  options.use_high_res_features = true;
  options.iou_prediction_use_sigmoid = true;
  options.pred_obj_scores = true;
  options.pred_obj_scores_mlp = true;
  options.use_multimask_token_for_obj_ptr = true;
  return options;
}

class SamHeadsParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    state_dict_ = new TensorMap(LoadModelStateDict(kModel));
    golden_ = new TensorMap(LoadGolden(kGolden));
  }

  void SetUp() override {
    prompt_encoder_ = PromptEncoder(ParityPromptEncoderOptions());
    mask_decoder_ = MaskDecoder(ParityMaskDecoderOptions());
    LoadPrefixed(*prompt_encoder_, *state_dict_, "sam_prompt_encoder.");
    LoadPrefixed(*mask_decoder_, *state_dict_, "sam_mask_decoder.");
    prompt_encoder_->eval();
    mask_decoder_->eval();
  }

  static at::Tensor G(const std::string& name) { return Get(*golden_, name); }

  std::pair<at::Tensor, at::Tensor> Points() const {
    return {G("in.point_coords"), G("in.point_labels")};
  }
  std::vector<at::Tensor> HighRes() const {
    return {G("in.feat_s0"), G("in.feat_s1")};
  }

  // Compares the four decoder outputs with the golden's "<scenario>.*".
  static void ExpectOutputs(const std::string& scenario,
                            const MaskDecoderOutput& out) {
    auto masks = ForwardClose(out.masks, G(scenario + ".masks"));
    EXPECT_TRUE(masks) << scenario;
    std::cout << scenario << ".masks: " << masks.message() << "\n";
    EXPECT_TRUE(ForwardClose(out.iou_pred, G(scenario + ".iou"))) << scenario;
    EXPECT_TRUE(ForwardClose(out.sam_tokens_out, G(scenario + ".tokens")))
        << scenario;
    EXPECT_TRUE(ForwardClose(out.object_score_logits, G(scenario + ".obj")))
        << scenario;
  }

  static TensorMap* state_dict_;
  static TensorMap* golden_;
  PromptEncoder prompt_encoder_{nullptr};
  MaskDecoder mask_decoder_{nullptr};
};

TensorMap* SamHeadsParity::state_dict_ = nullptr;
TensorMap* SamHeadsParity::golden_ = nullptr;

TEST_F(SamHeadsParity, DensePeMatchesReference) {
  EXPECT_TRUE(ForwardClose(prompt_encoder_->get_dense_pe(), G("dense_pe")));
}

TEST_F(SamHeadsParity, PointsWithPaddingMultimaskAndGradients) {
  at::Tensor image = G("in.image_embeddings").clone().requires_grad_();
  auto [sparse, dense] =
      prompt_encoder_->forward(Points(), std::nullopt, std::nullopt);
  // 3 clicks + the padding point (no boxes).
  EXPECT_EQ(sparse.sizes(), (std::vector<int64_t>{2, 4, 64}));
  EXPECT_TRUE(ForwardClose(sparse, G("a.sparse")));
  EXPECT_TRUE(ForwardClose(dense, G("a.dense")));
  MaskDecoderOutput out = mask_decoder_->forward(
      image, prompt_encoder_->get_dense_pe(), sparse, dense,
      /*multimask_output=*/true, /*repeat_image=*/false, HighRes());
  EXPECT_EQ(out.masks.sizes(), (std::vector<int64_t>{2, 3, 64, 64}));
  // use_multimask_token_for_obj_ptr: the three multimask tokens.
  EXPECT_EQ(out.sam_tokens_out.sizes(), (std::vector<int64_t>{2, 3, 64}));
  ExpectOutputs("a", out);

  at::Tensor loss = (out.masks * G("a.weight.masks")).sum() +
                    (out.iou_pred * G("a.weight.iou")).sum() +
                    (out.sam_tokens_out * G("a.weight.tokens")).sum() +
                    (out.object_score_logits * G("a.weight.obj")).sum();
  loss.backward();
  double largest = 0;
  for (const auto& [name, tensor] : *golden_) {
    if (name.rfind("a.grad.", 0) == 0) {
      largest = std::max(largest, testing::MaxAbs(tensor));
    }
  }
  const double floor = 1e-6 * largest;
  double worst_relative = 0;
  int checked = 0;
  auto check = [&](const std::string& name, const at::Tensor& grad) {
    const std::string key = "a.grad." + name;
    if (golden_->count(key) == 0) {
      EXPECT_TRUE(!grad.defined() || testing::MaxAbs(grad) == 0) << name;
      return;
    }
    const at::Tensor ref = G(key);
    EXPECT_TRUE(GradClose(grad, ref, floor)) << name;
    if (grad.defined() && testing::MaxAbs(ref) >= floor) {
      worst_relative = std::max(worst_relative, testing::MaxAbsDiff(grad, ref) /
                                                    testing::MaxAbs(ref));
    }
    ++checked;
  };
  for (const auto& item : prompt_encoder_->named_parameters()) {
    check("sam_prompt_encoder." + item.key(), item.value().grad());
  }
  for (const auto& item : mask_decoder_->named_parameters()) {
    check("sam_mask_decoder." + item.key(), item.value().grad());
  }
  check("image_embeddings", image.grad());
  int reference_grads = 0;
  for (const auto& [name, tensor] : *golden_) {
    reference_grads += name.rfind("a.grad.", 0) == 0;
  }
  EXPECT_EQ(checked, reference_grads);
  std::cout << "worst gradient max-abs error / max|ref|: " << worst_relative
            << " over " << checked << " tensors\n";
}

TEST_F(SamHeadsParity, PointsBoxesAndMaskSingleOutput) {
  at::NoGradGuard no_grad;
  auto [sparse, dense] =
      prompt_encoder_->forward(Points(), G("in.boxes"), G("in.mask_inputs"));
  // With a box there is no padding point: 3 clicks + 2 corners.
  EXPECT_EQ(sparse.size(1), 5);
  EXPECT_TRUE(ForwardClose(sparse, G("b.sparse")));
  EXPECT_TRUE(ForwardClose(dense, G("b.dense")));
  MaskDecoderOutput out = mask_decoder_->forward(
      G("in.image_embeddings"), prompt_encoder_->get_dense_pe(), sparse, dense,
      /*multimask_output=*/false, /*repeat_image=*/false, HighRes());
  EXPECT_EQ(out.masks.size(1), 1);
  EXPECT_EQ(out.sam_tokens_out.size(1), 1);
  ExpectOutputs("b", out);
}

TEST_F(SamHeadsParity, BoxesOnlyWithRepeatedImage) {
  at::NoGradGuard no_grad;
  auto [sparse, dense] =
      prompt_encoder_->forward(std::nullopt, G("in.boxes"), std::nullopt);
  EXPECT_EQ(sparse.size(1), 2);
  EXPECT_TRUE(ForwardClose(sparse, G("c.sparse")));
  EXPECT_TRUE(ForwardClose(dense, G("c.dense")));
  MaskDecoderOutput out = mask_decoder_->forward(
      G("in.image_embeddings").slice(0, 0, 1), prompt_encoder_->get_dense_pe(),
      sparse, dense, /*multimask_output=*/true, /*repeat_image=*/true,
      HighRes());
  ExpectOutputs("c", out);
}

TEST_F(SamHeadsParity, DynamicMultimaskViaStability) {
  // Threshold between the two objects' stability scores: one keeps its
  // single mask, the other falls back to its best multimask output.
  MaskDecoderOptions options = ParityMaskDecoderOptions();
  options.dynamic_multimask_via_stability = true;
  options.dynamic_multimask_stability_delta = G("d.delta").item<double>();
  options.dynamic_multimask_stability_thresh = G("d.thresh").item<double>();
  MaskDecoder decoder(options);
  LoadPrefixed(*decoder, *state_dict_, "sam_mask_decoder.");
  decoder->eval();
  at::NoGradGuard no_grad;
  auto [sparse, dense] =
      prompt_encoder_->forward(Points(), std::nullopt, std::nullopt);
  MaskPrediction all = decoder->predict_masks(
      G("in.image_embeddings"), prompt_encoder_->get_dense_pe(), sparse, dense,
      /*repeat_image=*/false, HighRes());
  at::Tensor stability =
      decoder->get_stability_scores(all.masks.slice(1, 0, 1));
  EXPECT_TRUE(ForwardClose(stability, G("d.stability")));
  MaskDecoderOutput out = decoder->forward(
      G("in.image_embeddings"), prompt_encoder_->get_dense_pe(), sparse, dense,
      /*multimask_output=*/false, /*repeat_image=*/false, HighRes());
  ExpectOutputs("d", out);
  // One of each kind, as intended by the threshold.
  const bool first_single =
      at::equal(out.masks[0], all.masks[0].slice(0, 0, 1));
  const bool second_single =
      at::equal(out.masks[1], all.masks[1].slice(0, 0, 1));
  EXPECT_NE(first_single, second_single);

  // In training mode the stability fallback is off: always token 0.
  decoder->train();
  MaskDecoderOutput train_out = decoder->forward(
      G("in.image_embeddings"), prompt_encoder_->get_dense_pe(), sparse, dense,
      false, false, HighRes());
  EXPECT_TRUE(at::allclose(train_out.masks, all.masks.slice(1, 0, 1)));
}

// --- behaviour on synthetic inputs -----------------------------------------

TEST(PromptEncoder, PaddingPointUsesNotAPointEmbedding) {
  PromptEncoder encoder(ParityPromptEncoderOptions());
  at::NoGradGuard no_grad;
  at::Tensor coords = at::tensor({10.0f, 20.0f}).reshape({1, 1, 2});
  at::Tensor labels = at::tensor({1}, at::kInt).reshape({1, 1});
  auto [sparse, dense] = encoder->forward(std::make_pair(coords, labels),
                                          std::nullopt, std::nullopt);
  ASSERT_EQ(sparse.sizes(), (std::vector<int64_t>{1, 2, 64}));
  EXPECT_TRUE(at::equal(sparse[0][1], encoder->not_a_point_embed->weight[0]));
  // Positive click: its PE plus point_embeddings[1].
  at::Tensor pe =
      encoder->pe_layer->forward_with_coords(coords + 0.5, {256, 256})[0][0];
  EXPECT_TRUE(at::allclose(
      sparse[0][0],
      pe + encoder->point_embeddings->ptr<torch::nn::EmbeddingImpl>(1)
               ->weight[0]));
  // No mask: the no-mask embedding everywhere.
  EXPECT_EQ(dense.sizes(), (std::vector<int64_t>{1, 64, 16, 16}));
  EXPECT_TRUE(at::equal(dense[0].select(1, 3).select(1, 5),
                        encoder->no_mask_embed->weight[0]));
  // Label -1 given by the caller is treated like padding.
  labels.fill_(-1);
  auto [sparse_neg, unused] = encoder->forward(std::make_pair(coords, labels),
                                               std::nullopt, std::nullopt);
  EXPECT_TRUE(
      at::equal(sparse_neg[0][0], encoder->not_a_point_embed->weight[0]));
}

TEST(PromptEncoder, NoPromptsGiveEmptySparseAndBatchOne) {
  PromptEncoder encoder(ParityPromptEncoderOptions());
  auto [sparse, dense] =
      encoder->forward(std::nullopt, std::nullopt, std::nullopt);
  EXPECT_EQ(sparse.sizes(), (std::vector<int64_t>{1, 0, 64}));
  EXPECT_EQ(dense.sizes(), (std::vector<int64_t>{1, 64, 16, 16}));
}

TEST(MaskDecoder, DynamicStabilitySelection) {
  MaskDecoderOptions options = ParityMaskDecoderOptions();
  options.dynamic_multimask_via_stability = true;
  MaskDecoder decoder(options);
  // Object 0: token 0 is a crisp mask (stable). Object 1: token 0 hovers
  // around 0 (unstable), so the multimask token with the best IoU (token 2)
  // is taken.
  at::Tensor logits = at::zeros({2, 4, 4, 4});
  logits[0][0].fill_(-10);
  logits[0][0].slice(0, 0, 2).fill_(10);
  logits[1][0].fill_(0.01);
  logits[1][0][0][0] = 10;
  for (int m = 1; m < 4; ++m) logits[1][m].fill_(m);
  at::Tensor ious = at::tensor({0.9f, 0.1f, 0.2f, 0.3f, 0.5f, 0.2f, 0.8f, 0.4f})
                        .reshape({2, 4});
  at::Tensor stability = decoder->get_stability_scores(logits);
  EXPECT_FLOAT_EQ(stability[0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(stability[1][0].item<float>(), 1.0f / 16.0f);
  // An all-negative mask counts as stable (empty union).
  EXPECT_FLOAT_EQ(decoder->get_stability_scores(at::full({1, 1, 2, 2}, -5.0f))
                      .item<float>(),
                  1.0f);
  auto [masks, iou] = decoder->dynamic_multimask_via_stability(logits, ious);
  EXPECT_TRUE(at::equal(masks[0][0], logits[0][0]));
  EXPECT_TRUE(at::equal(masks[1][0], logits[1][2]));
  EXPECT_FLOAT_EQ(iou[0][0].item<float>(), 0.9f);
  EXPECT_FLOAT_EQ(iou[1][0].item<float>(), 0.8f);
}

TEST(MaskDecoder, OutputSelectionAndObjectScoreDefaults) {
  MaskDecoderOptions options;
  options.transformer_dim = 32;
  options.transformer = TwoWayTransformerOptions(1, 0, 2, 64);
  options.iou_head_hidden_dim = 16;
  MaskDecoder decoder(options);  // no high-res, no object scores
  decoder->eval();
  EXPECT_FALSE(decoder->named_parameters().contains("conv_s0.weight"));
  EXPECT_FALSE(decoder->named_parameters().contains("obj_score_token.weight"));
  at::NoGradGuard no_grad;
  at::Tensor image = at::randn({3, 32, 4, 4});
  at::Tensor pe = at::randn({1, 32, 4, 4});
  at::Tensor sparse = at::randn({3, 2, 32});
  at::Tensor dense = at::randn({3, 32, 4, 4});
  MaskPrediction all = decoder->predict_masks(image, pe, sparse, dense, false);
  EXPECT_EQ(all.masks.sizes(), (std::vector<int64_t>{3, 4, 16, 16}));
  EXPECT_TRUE(at::equal(all.object_score_logits, at::full({3, 1}, 10.0f)));
  MaskDecoderOutput multi =
      decoder->forward(image, pe, sparse, dense, true, false);
  EXPECT_TRUE(at::allclose(multi.masks, all.masks.slice(1, 1)));
  EXPECT_TRUE(at::allclose(multi.iou_pred, all.iou_pred.slice(1, 1)));
  // Without use_multimask_token_for_obj_ptr the single-mask token is used.
  EXPECT_TRUE(
      at::allclose(multi.sam_tokens_out, all.mask_tokens_out.slice(1, 0, 1)));
  MaskDecoderOutput single =
      decoder->forward(image, pe, sparse, dense, false, false);
  EXPECT_TRUE(at::allclose(single.masks, all.masks.slice(1, 0, 1)));

  // A linear object-score head when pred_obj_scores_mlp is off.
  options.pred_obj_scores = true;
  MaskDecoder with_scores(options);
  auto params = with_scores->named_parameters();
  EXPECT_TRUE(params.contains("pred_obj_score_head.weight"));
  EXPECT_TRUE(params.contains("obj_score_token.weight"));
}

}  // namespace
}  // namespace sam2::modeling
