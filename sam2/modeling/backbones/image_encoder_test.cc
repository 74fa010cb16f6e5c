// The image encoder of the small parity model (tests/testdata/parity) against
// the reference: forward_image outputs from parity_small_io.pt, gradients and
// a non-square image from testdata/image_encoder_golden.pt (both written by
// the reference implementation on torch 1.13 / CPU / float32).
#include "sam2/modeling/backbones/image_encoder.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/conv.h>

#include <iostream>
#include <string>
#include <vector>

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
constexpr char kIo[] = "tests/testdata/parity/parity_small_io.pt";
constexpr char kGolden[] =
    "sam2/modeling/backbones/testdata/image_encoder_golden.pt";

// The image encoder of the parity-small model (configs/parity_small.pbtxt),
// written out because the network's tests do not read configs/ (layering);
// the reference's fixtures below check it.
ImageEncoderOptions SmallEncoderOptions() {
  ImageEncoderOptions options;
  options.scalp = 1;
  HieraOptions& trunk = options.trunk;
  trunk.embed_dim = 16;
  trunk.num_heads = 1;
  trunk.stages = {1, 1, 3, 1};
  trunk.global_att_blocks = {3};
  trunk.window_spec = {8, 4, 14, 7};
  trunk.window_pos_embed_bkg_spatial_size = {7, 7};
  trunk.drop_path_rate = 0.1;
  FpnNeckOptions& neck = options.neck;
  neck.position_encoding = PositionEmbeddingSineOptions(64);
  neck.d_model = 64;
  neck.backbone_channel_list = {128, 64, 32, 16};
  neck.fpn_top_down_levels = std::vector<int64_t>{2, 3};
  neck.fpn_interp_model = FpnInterpMode::kNearest;
  return options;
}

class ImageEncoderParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    state_dict_ = new TensorMap(LoadModelStateDict(kModel));
    io_ = new TensorMap(LoadGolden(kIo));
    golden_ = new TensorMap(LoadGolden(kGolden));
  }

  void SetUp() override {
    encoder_ = ImageEncoder(SmallEncoderOptions());
    LoadPrefixed(*encoder_, *state_dict_, "image_encoder.");
    // SAM2Base.forward_image passes levels 0 and 1 through the mask
    // decoder's conv_s0 / conv_s1.
    conv_s0_ = torch::nn::Conv2d(torch::nn::Conv2dOptions(64, 8, 1));
    conv_s1_ = torch::nn::Conv2d(torch::nn::Conv2dOptions(64, 16, 1));
    LoadPrefixed(*conv_s0_, *state_dict_, "sam_mask_decoder.conv_s0.");
    LoadPrefixed(*conv_s1_, *state_dict_, "sam_mask_decoder.conv_s1.");
    encoder_->eval();
  }

  ImageEncoderOutput ForwardImage(const at::Tensor& image) {
    ImageEncoderOutput out = encoder_->forward(image);
    out.backbone_fpn[0] = conv_s0_->forward(out.backbone_fpn[0]);
    out.backbone_fpn[1] = conv_s1_->forward(out.backbone_fpn[1]);
    return out;
  }

  static TensorMap* state_dict_;
  static TensorMap* io_;
  static TensorMap* golden_;
  ImageEncoder encoder_{nullptr};
  torch::nn::Conv2d conv_s0_{nullptr};
  torch::nn::Conv2d conv_s1_{nullptr};
};

TensorMap* ImageEncoderParity::state_dict_ = nullptr;
TensorMap* ImageEncoderParity::io_ = nullptr;
TensorMap* ImageEncoderParity::golden_ = nullptr;

TEST_F(ImageEncoderParity, ForwardImageAndGradientsMatchReference) {
  at::Tensor image = Get(*io_, "input.img_batch")[0];
  ImageEncoderOutput out = ForwardImage(image);
  ASSERT_EQ(out.backbone_fpn.size(), 3u);
  ASSERT_EQ(out.vision_pos_enc.size(), 3u);
  EXPECT_TRUE(out.vision_features.is_same(out.backbone_fpn[2]));
  at::Tensor loss = at::zeros({});
  for (int i = 0; i < 3; ++i) {
    const std::string level = std::to_string(i);
    auto fpn = ForwardClose(out.backbone_fpn[i],
                            Get(*io_, "image_encoder.backbone_fpn." + level));
    EXPECT_TRUE(fpn) << "level " << i;
    std::cout << "backbone_fpn." << i << ": " << fpn.message() << "\n";
    auto pos = ForwardClose(out.vision_pos_enc[i],
                            Get(*io_, "image_encoder.vision_pos_enc." + level));
    EXPECT_TRUE(pos) << "level " << i;
    std::cout << "vision_pos_enc." << i << ": " << pos.message() << "\n";
    loss =
        loss + (out.backbone_fpn[i] * Get(*golden_, "weight." + level)).sum();
  }

  // Gradients of sum_i <fpn_i, weight_i> for every parameter in the graph.
  loss.backward();
  double largest = 0;
  for (const auto& [name, tensor] : *golden_) {
    if (name.rfind("grad.", 0) == 0) {
      largest = std::max(largest, testing::MaxAbs(tensor));
    }
  }
  const double floor = 1e-6 * largest;
  double worst_relative = 0;
  int checked = 0;
  // Every parameter with a reference gradient must match it; the others
  // (none expected) must have none.
  auto check = [&](const std::string& name, const at::Tensor& grad) {
    if (golden_->count("grad." + name) == 0) {
      EXPECT_TRUE(!grad.defined() || testing::MaxAbs(grad) == 0) << name;
      return;
    }
    const at::Tensor ref = Get(*golden_, "grad." + name);
    EXPECT_TRUE(GradClose(grad, ref, floor)) << name;
    if (grad.defined() && testing::MaxAbs(ref) >= floor) {
      worst_relative = std::max(worst_relative, testing::MaxAbsDiff(grad, ref) /
                                                    testing::MaxAbs(ref));
    }
    ++checked;
  };
  for (const auto& item : encoder_->named_parameters()) {
    check("image_encoder." + item.key(), item.value().grad());
  }
  for (const auto& item : conv_s0_->named_parameters()) {
    check("sam_mask_decoder.conv_s0." + item.key(), item.value().grad());
  }
  for (const auto& item : conv_s1_->named_parameters()) {
    check("sam_mask_decoder.conv_s1." + item.key(), item.value().grad());
  }
  int reference_grads = 0;
  for (const auto& [name, tensor] : *golden_) {
    reference_grads += name.rfind("grad.", 0) == 0;
  }
  EXPECT_EQ(checked, reference_grads);
  std::cout << "worst gradient max-abs error / max|ref|: " << worst_relative
            << " over " << checked << " tensors\n";
}

TEST_F(ImageEncoderParity, NonSquareImageWithPaddedWindowsMatchesReference) {
  // 256x192: 16x12 in stage 3 (windows of 14) and 8x6 in stage 4 (windows of
  // 7) are padded.
  at::NoGradGuard no_grad;
  ImageEncoderOutput out = encoder_->forward(Get(*golden_, "nonsquare.input"));
  for (int i = 0; i < 3; ++i) {
    const std::string level = std::to_string(i);
    EXPECT_TRUE(ForwardClose(out.backbone_fpn[i],
                             Get(*golden_, "nonsquare.backbone_fpn." + level)))
        << level;
    EXPECT_TRUE(
        ForwardClose(out.vision_pos_enc[i],
                     Get(*golden_, "nonsquare.vision_pos_enc." + level)))
        << level;
  }
}

TEST(ImageEncoder, RejectsMismatchedChannels) {
  ImageEncoderOptions options = SmallEncoderOptions();
  options.neck.backbone_channel_list = {128, 64, 32, 8};
  EXPECT_THROW(ImageEncoder{options}, c10::Error);
}

TEST(FpnNeck, TopDownOnlyOnChosenLevelsAndAverageFuse) {
  FpnNeckOptions options;
  options.position_encoding = PositionEmbeddingSineOptions(4);
  options.d_model = 4;
  options.backbone_channel_list = {2, 2};
  options.fpn_top_down_levels = std::vector<int64_t>{};
  FpnNeck neck(options);
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> xs = {at::randn({1, 2, 8, 8}),
                                at::randn({1, 2, 4, 4})};
  auto [lateral_only, pos] = neck->forward(xs);
  // No top-down level: each output is its own lateral conv (convs[0] works
  // on the lowest resolution).
  EXPECT_TRUE(
      at::allclose(lateral_only[0], neck->lateral_convs()[1]->forward(xs[0])));
  EXPECT_TRUE(
      at::allclose(lateral_only[1], neck->lateral_convs()[0]->forward(xs[1])));

  options.fpn_top_down_levels.reset();  // all levels
  options.fuse_type = FpnFuseType::kAvg;
  options.fpn_interp_model = FpnInterpMode::kBilinear;
  FpnNeck avg(options);
  TensorMap params;
  for (const auto& item : neck->named_parameters()) {
    params[item.key()] = item.value();
  }
  LoadPrefixed(*avg, params, "");
  auto [fused, fused_pos] = avg->forward(xs);
  at::Tensor up = at::upsample_bilinear2d(lateral_only[1], {8, 8}, false);
  EXPECT_TRUE(at::allclose(fused[0], (lateral_only[0] + up) / 2, 1e-5, 1e-6));
  EXPECT_TRUE(at::allclose(fused[1], lateral_only[1]));
}

}  // namespace
}  // namespace sam2::modeling
