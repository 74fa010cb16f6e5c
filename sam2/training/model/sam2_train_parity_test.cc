// Parity of SAM2Train (tracking in eval mode), the MOSE loss and every
// parameter's gradient with the reference implementation, on the
// parity-small fixture (tests/testdata/parity, see its README for the
// scenarios and tolerances).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sam2/checkpoint/state_dict.h"
#include "sam2/checkpoint/torch_file.h"
#include "sam2/training/model/loss_fns.h"
#include "sam2/training/model/sam2_train.h"
#include "sam2/training/test_models.h"

namespace sam2::training {
namespace {

using modeling::FrameOutput;

std::string Runfile(const std::string& path) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/sam2_train_cpp/" + path;
}

// Largest |ours - ref| per group of tensors, for the report.
class ErrorLog {
 public:
  void Add(const std::string& group, double err) {
    double& e = max_[group];
    e = std::max(e, err);
  }
  void Print() const {
    for (const auto& [group, err] : max_) {
      std::cout << "max abs error " << group << ": " << err << "\n";
      testing::Test::RecordProperty(group, std::to_string(err));
    }
  }

 private:
  std::map<std::string, double> max_;
};

class SAM2TrainParityTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto io = checkpoint::LoadTensorDict(
        Runfile("tests/testdata/parity/parity_small_io.pt"));
    ASSERT_TRUE(io.ok()) << io.status();
    io_ = new std::map<std::string, at::Tensor>(io->begin(), io->end());
    auto state = checkpoint::LoadStateDict(
        Runfile("tests/testdata/parity/parity_small_model.pt"));
    ASSERT_TRUE(state.ok()) << state.status();
    state_ = new checkpoint::TensorDict(*state);
  }
  static void TearDownTestSuite() {
    delete io_;
    delete state_;
  }

  SAM2Train LoadModel(
      const SAM2TrainOptions& options = ParitySmallModelOptions()) {
    SAM2Train model(options);
    auto report = checkpoint::LoadStateDictIntoModel(*model, *state_, {},
                                                     "parity_small_model.pt");
    EXPECT_TRUE(report.ok()) << report.status();
    model->eval();
    return model;
  }

  TrackingInput Input() const {
    return {io().at("input.img_batch"), io().at("input.obj_to_frame_idx"),
            io().at("input.masks")};
  }

  const std::map<std::string, at::Tensor>& io() const { return *io_; }
  const at::Tensor& Ref(const std::string& key) const {
    auto it = io_->find(key);
    EXPECT_NE(it, io_->end()) << key;
    return it->second;
  }

  // max |ours - ref| <= 1e-3 * max(1, max |ref|).
  void ExpectForwardClose(const std::string& key, const at::Tensor& ours,
                          const std::string& group) {
    const at::Tensor& ref = Ref(key);
    ASSERT_EQ(ours.sizes(), ref.sizes()) << key;
    const double err = (ours.detach().to(at::kFloat) - ref.to(at::kFloat))
                           .abs()
                           .max()
                           .item<double>();
    const double bound = 1e-3 * std::max(1.0, ref.abs().max().item<double>());
    EXPECT_LE(err, bound) << key;
    errors_.Add(group, err);
  }

  void CheckTracking(const std::string& scenario,
                     const std::vector<FrameOutput>& outs) {
    ASSERT_EQ(outs.size(), 4u);
    for (size_t t = 0; t < outs.size(); ++t) {
      const FrameOutput& out = outs[t];
      const std::string f = scenario + ".frame" + std::to_string(t);
      ExpectForwardClose(f + ".pred_masks", out.pred_masks, "masks_low_res");
      ExpectForwardClose(f + ".pred_masks_high_res", out.pred_masks_high_res,
                         "masks_high_res");
      ExpectForwardClose(f + ".object_score_logits",
                         out.multistep_object_score_logits.back(),
                         "object_scores");
      ExpectForwardClose(f + ".maskmem_features", out.maskmem_features,
                         "maskmem_features");
      const int64_t num_steps = Ref(f + ".num_steps").item<int64_t>();
      ASSERT_EQ(static_cast<int64_t>(out.multistep_pred_ious.size()), num_steps)
          << f;
      for (int64_t s = 0; s < num_steps; ++s) {
        const std::string p = f + ".step" + std::to_string(s);
        ExpectForwardClose(p + ".ious", out.multistep_pred_ious[s], "ious");
        if (io().count(p + ".multimasks_high_res")) {
          ExpectForwardClose(p + ".multimasks_high_res",
                             out.multistep_pred_multimasks_high_res[s],
                             "multimasks_high_res");
        }
        const auto& points = out.multistep_point_inputs[s];
        ASSERT_EQ(points.has_value(), io().count(p + ".point_coords") > 0) << p;
        if (points.has_value()) {
          EXPECT_TRUE(at::equal(points->point_coords, Ref(p + ".point_coords")))
              << p << "\nours " << points->point_coords << "\nref "
              << Ref(p + ".point_coords");
          EXPECT_TRUE(at::equal(points->point_labels.to(at::kInt),
                                Ref(p + ".point_labels").to(at::kInt)))
              << p;
        }
      }
    }
  }

  static std::map<std::string, at::Tensor>* io_;
  static checkpoint::TensorDict* state_;
  ErrorLog errors_;
};

std::map<std::string, at::Tensor>* SAM2TrainParityTest::io_ = nullptr;
checkpoint::TensorDict* SAM2TrainParityTest::state_ = nullptr;

TEST_F(SAM2TrainParityTest, ImageEncoderOnFrame0) {
  SAM2Train model = LoadModel();
  at::NoGradGuard no_grad;
  const modeling::ImageEncoderOutput out =
      model->forward_image(io().at("input.img_batch")[0]);
  for (int i = 0; i < 3; ++i) {
    ExpectForwardClose("image_encoder.backbone_fpn." + std::to_string(i),
                       out.backbone_fpn[i], "image_encoder");
    ExpectForwardClose("image_encoder.vision_pos_enc." + std::to_string(i),
                       out.vision_pos_enc[i], "image_encoder_pos");
  }
  errors_.Print();
}

TEST_F(SAM2TrainParityTest, MaskPromptTracking) {
  SAM2Train model = LoadModel();
  model->mutable_train_options().prob_to_use_pt_input_for_eval = 0.0;
  at::NoGradGuard no_grad;
  const auto start = std::chrono::steady_clock::now();
  const std::vector<FrameOutput> outs = model->forward(Input());
  std::cout << "mask-prompt forward (4 frames, 2 objects): "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                             start)
                   .count()
            << " s\n";
  CheckTracking("mask_prompt", outs);
  errors_.Print();
}

// Gradients of the fixture's core loss that the reference implementation itself
// does not reproduce within the README's bound when run on another CPU: on an
// AVX2 machine the reference's own gradients (same code, same inputs, 1 or 2
// threads) differ from the fixture's by exactly these figures (max |diff| /
// max |ref|), and ours match that machine's reference to 5e-6 on every tensor
// (checked with SAM2_PARITY_ALT_GRADS). The random model is ill-conditioned:
// float32 rounding differences in the mask decoder's token path are amplified
// by ~1e4. Bound for these: 1e-2 instead of 1e-3 (cosine >= 0.9999 still
// holds). See /work/notes/issues_model_b.md.
const std::map<std::string, double>& PlatformSensitiveGradients() {
  static const auto* bounds = new std::map<std::string, double>{
      // measured: reference on AVX2 vs fixture 7.53e-3, ours 7.53e-3
      {"sam_mask_decoder.transformer.layers.1.mlp.layers.0.weight", 1e-2},
      // 6.88e-3 / 6.88e-3
      {"sam_mask_decoder.transformer.layers.1.mlp.layers.0.bias", 1e-2},
      // 2.85e-3 / 2.85e-3
      {"sam_mask_decoder.transformer.layers.0.self_attn.q_proj.weight", 1e-2},
      // 1.96e-3 / 1.95e-3
      {"sam_mask_decoder.transformer.layers.0.self_attn.q_proj.bias", 1e-2},
      // 1.15e-3 / 1.15e-3
      {"sam_mask_decoder.transformer.layers.0.self_attn.k_proj.weight", 1e-2},
  };
  return *bounds;
}

// Checks every parameter's gradient against `ref_grads` ({"grad.<name>"}) at
// the README's tolerances (`bounds` overrides the relative bound per name).
void ExpectGradientsClose(torch::nn::Module& model,
                          const std::map<std::string, at::Tensor>& ref_grads,
                          const std::map<std::string, double>& bounds,
                          ErrorLog& errors) {
  double largest = 0;
  std::set<std::string> ref_with_grad;
  for (const auto& [key, value] : ref_grads) {
    if (key.rfind("grad.", 0) != 0) continue;
    largest = std::max(largest, value.abs().max().item<double>());
    ref_with_grad.insert(key.substr(5));
  }
  ASSERT_FALSE(ref_with_grad.empty());
  const double floor = 1e-6 * largest;
  std::set<std::string> with_grad;
  for (const auto& param : model.named_parameters()) {
    if (param.value().grad().defined()) with_grad.insert(param.key());
  }
  for (const std::string& name : ref_with_grad) {
    EXPECT_TRUE(with_grad.count(name)) << "no gradient for " << name;
  }
  const bool verbose = std::getenv("SAM2_PARITY_VERBOSE") != nullptr;
  for (const auto& param : model.named_parameters()) {
    const at::Tensor grad = param.value().grad();
    if (!grad.defined()) continue;
    const std::string& name = param.key();
    if (!ref_with_grad.count(name)) {
      // The reference has no gradient here; ours must be zero.
      EXPECT_EQ(grad.abs().max().item<double>(), 0.0) << name;
      continue;
    }
    const at::Tensor& ref = ref_grads.at("grad." + name);
    ASSERT_EQ(grad.sizes(), ref.sizes()) << name;
    const double ref_max = ref.abs().max().item<double>();
    const double err = (grad - ref).abs().max().item<double>();
    if (ref_max < floor) {
      // Rounding noise around a true zero in the reference.
      EXPECT_LE(grad.abs().max().item<double>(), floor) << name;
      continue;
    }
    const auto bound_it = bounds.find(name);
    const double bound = bound_it == bounds.end() ? 1e-3 : bound_it->second;
    EXPECT_LE(err, bound * ref_max) << name << " ref max " << ref_max;
    if (verbose)
      std::cout << "grad " << name << " rel " << err / ref_max << "\n";
    errors.Add(bound_it == bounds.end() ? "grad_relative_to_max"
                                        : "grad_relative_to_max_exempted",
               err / ref_max);
    if (ref.numel() > 16) {
      const double cosine =
          (grad.flatten() * ref.flatten()).sum().item<double>() /
          (grad.norm().item<double>() * ref.norm().item<double>());
      EXPECT_GE(cosine, 0.9999) << name;
      errors.Add("grad_1_minus_cosine", 1 - cosine);
    }
  }
}

void ExpectLossesClose(const LossTensors& losses,
                       const std::map<std::string, at::Tensor>& ref,
                       ErrorLog& errors) {
  for (const char* key :
       {kLossMask, kLossDice, kLossIou, kLossClass, kCoreLossKey}) {
    const double expected = ref.at(std::string("loss.") + key).item<double>();
    const double ours = losses.at(key).item<double>();
    const double rel =
        std::abs(ours - expected) / std::max(std::abs(expected), 1e-12);
    EXPECT_LE(rel, 1e-4) << key << " ours " << ours << " ref " << expected;
    errors.Add("loss_relative", rel);
  }
}

TEST_F(SAM2TrainParityTest, PointPromptTrackingLossAndGradients) {
  SAM2Train model = LoadModel();
  SAM2TrainOptions& o = model->mutable_train_options();
  o.prob_to_use_pt_input_for_eval = 1.0;
  o.num_frames_to_correct_for_eval = 1;
  o.pt_sampling_for_eval = PointSamplingMethod::kCenter;
  const auto start = std::chrono::steady_clock::now();
  const std::vector<FrameOutput> outs = model->forward(Input());
  std::cout << "point-prompt forward (4 frames, 2 objects, 8 clicks): "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                             start)
                   .count()
            << " s\n";
  CheckTracking("point_prompt", outs);

  const MultiStepMultiMasksAndIous loss_fn(ParitySmallLossOptions());
  const LossTensors losses =
      loss_fn.Compute(ToLossInputs(outs), io().at("input.masks"));
  ExpectLossesClose(losses, io(), errors_);
  losses.at(kCoreLossKey).backward();

  std::map<std::string, at::Tensor> ref_grads;
  std::map<std::string, double> bounds = PlatformSensitiveGradients();
  if (const char* alt = std::getenv("SAM2_PARITY_ALT_GRADS")) {
    // Debugging aid: the reference's gradients computed on this machine
    // ({"grad.<name>": tensor}), compared at the plain README bound.
    auto dict = checkpoint::LoadTensorDict(alt);
    ASSERT_TRUE(dict.ok()) << dict.status();
    ref_grads.insert(dict->begin(), dict->end());
    bounds.clear();
  } else {
    for (const auto& [key, value] : io()) {
      if (key.rfind("grad.", 0) == 0) ref_grads.emplace(key, value);
    }
  }
  ExpectGradientsClose(*model, ref_grads, bounds, errors_);
  errors_.Print();
}

std::vector<int64_t> ToVector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(),
                              c.data_ptr<int64_t>() + c.numel());
}

// Tracks `input` with the frames the reference drew with numpy
// (plan.init_cond_frames, plan.frames_to_add_correction_pt in `ref`) and
// clicks at the GT centres on the initial frames (eval prompts).
std::vector<FrameOutput> TrackWithReferencePlan(
    SAM2TrainImpl& model, const TrackingInput& input,
    const std::map<std::string, at::Tensor>& ref) {
  PromptPlan plan = model.prepare_prompt_inputs(input);
  plan.init_cond_frames = ToVector(ref.at("plan.init_cond_frames"));
  plan.frames_to_add_correction_pt =
      ToVector(ref.at("plan.frames_to_add_correction_pt"));
  plan.frames_not_in_init_cond.clear();
  for (int64_t t = 0; t < plan.num_frames; ++t) {
    if (std::find(plan.init_cond_frames.begin(), plan.init_cond_frames.end(),
                  t) == plan.init_cond_frames.end()) {
      plan.frames_not_in_init_cond.push_back(t);
    }
  }
  plan.point_inputs_per_frame.clear();
  for (int64_t t : plan.init_cond_frames) {
    const PointPrompt click =
        SampleOnePointFromErrorCenter(plan.gt_masks_per_frame[t], at::Tensor());
    plan.point_inputs_per_frame[t] = {click.coords, click.labels};
  }
  return model.forward_tracking(std::nullopt, plan, input);
}

// The memory cells [h, w] (bool) that may differ from the reference's because
// a near-tie in the mask logits went the other way for us: a pixel whose
// logit has the other sign (binarised memories) or whose highest-scoring
// object differs (non-overlapping memories). The reference's high-res masks
// are its low-res ones upsampled, as the model makes them. A flipped pixel
// reaches the memory cell it falls in and, through the memory encoder's
// convolutions, the neighbouring cells.
at::Tensor CellsAfterFlips(const at::Tensor& ours_high_res,
                           const at::Tensor& ref_low_res, int64_t h,
                           int64_t w) {
  const int64_t size = ours_high_res.size(-1);
  const at::Tensor ref_high_res = at::upsample_bilinear2d(
      ref_low_res, {size, size}, /*align_corners=*/false, c10::nullopt,
      c10::nullopt);
  at::Tensor flips = ((ours_high_res > 0) != (ref_high_res > 0)).any(0);
  if (ours_high_res.size(0) > 1) {
    flips = flips | (ours_high_res.argmax(0) != ref_high_res.argmax(0));
  }
  const at::Tensor cells =
      at::max_pool2d(flips.to(at::kFloat).unsqueeze(0), {size / h, size / w});
  return at::max_pool2d(cells, {3, 3}, {1, 1}, {1, 1}).squeeze(0).squeeze(0) >
         0;
}

// Compares per-frame low-res masks, object scores, memories, per-step IoUs
// and clicks with a scenario file; returns the number of negative clicks.
int64_t CompareScenario(const std::string& name,
                        const std::vector<FrameOutput>& outs,
                        const std::map<std::string, at::Tensor>& ref,
                        ErrorLog& errors) {
  int64_t negative_clicks = 0;
  for (size_t t = 0; t < outs.size(); ++t) {
    const FrameOutput& out = outs[t];
    const std::string f = "frame" + std::to_string(t);
    auto expect_close = [&](const std::string& key, const at::Tensor& ours,
                            const std::string& group) {
      const at::Tensor& expected = ref.at(key);
      ASSERT_EQ(ours.sizes(), expected.sizes()) << key;
      const double err = (ours.detach() - expected).abs().max().item<double>();
      EXPECT_LE(err, 1e-3 * std::max(1.0, expected.abs().max().item<double>()))
          << key;
      errors.Add(name + "." + group, err);
    };
    expect_close(f + ".pred_masks", out.pred_masks, "masks_low_res");
    expect_close(f + ".object_score_logits",
                 out.multistep_object_score_logits.back(), "object_scores");
    {
      // Memories: as the rest, except in the cells that a near-tie decided
      // differently (at most a few; CellsAfterFlips).
      const at::Tensor& expected = ref.at(f + ".maskmem_features");
      const at::Tensor ours = out.maskmem_features.detach();
      if (ours.sizes() != expected.sizes()) {
        ADD_FAILURE() << f << ".maskmem_features: " << ours.sizes() << " vs "
                      << expected.sizes();
        continue;
      }
      const double tol =
          1e-3 * std::max(1.0, expected.abs().max().item<double>());
      const at::Tensor allowed =
          CellsAfterFlips(out.pred_masks_high_res.detach(),
                          ref.at(f + ".pred_masks"), ours.size(2),
                          ours.size(3));
      EXPECT_LE(allowed.sum().item<int64_t>(), allowed.numel() / 10)
          << f << ": too many flipped mask pixels to compare the memory";
      const at::Tensor diff = (ours - expected).abs();
      const double err =
          diff.masked_fill(allowed, 0).max().item<double>();
      EXPECT_LE(err, tol) << f << ".maskmem_features";
      errors.Add(name + ".maskmem_features", err);
      if (allowed.any().item<bool>()) {
        std::cout << f << ": " << allowed.sum().item<int64_t>()
                  << " memory cells after near-tie mask pixels, max |diff| "
                  << diff.max().item<double>() << " there\n";
      }
    }
    const int64_t num_steps = ref.at(f + ".num_steps").item<int64_t>();
    EXPECT_EQ(static_cast<int64_t>(out.multistep_pred_ious.size()), num_steps)
        << f;
    for (int64_t s = 0;
         s < std::min<int64_t>(num_steps, out.multistep_pred_ious.size());
         ++s) {
      const std::string p = f + ".step" + std::to_string(s);
      expect_close(p + ".ious", out.multistep_pred_ious[s], "ious");
      const auto& points = out.multistep_point_inputs[s];
      EXPECT_EQ(points.has_value(), ref.count(p + ".point_coords") > 0) << p;
      if (!points.has_value() || !ref.count(p + ".point_coords")) continue;
      EXPECT_TRUE(at::equal(points->point_coords, ref.at(p + ".point_coords")))
          << p << "\nours " << points->point_coords << "\nref "
          << ref.at(p + ".point_coords");
      EXPECT_TRUE(at::equal(points->point_labels.to(at::kInt),
                            ref.at(p + ".point_labels").to(at::kInt)))
          << p;
      if (s == num_steps - 1) {
        negative_clicks += (points->point_labels == 0).sum().item<int64_t>();
      }
    }
  }
  return negative_clicks;
}

// The fixture's random model predicts every object absent, so its masks are
// all NO_OBJ_SCORE and its clicks never move. This scenario shifts the object
// score head so that objects appear: real masks, best-of-multimask choices,
// clicks that follow the errors (negative ones too), two initial conditioning
// frames and a corrected frame that becomes a conditioning frame. Reference
// numbers: testdata/objects_present.pt, written by
// /work/notes/model_b_tools/gen_objects_present.py on an AVX2 CPU.
TEST_F(SAM2TrainParityTest, ObjectsPresentWithCorrectionsOnThreeFrames) {
  auto loaded = checkpoint::LoadTensorDict(
      Runfile("sam2/training/model/testdata/objects_present.pt"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::map<std::string, at::Tensor> ref(loaded->begin(), loaded->end());

  SAM2Train model = LoadModel();
  {
    at::NoGradGuard no_grad;
    model->sam_mask_decoder->pred_obj_score_mlp->linears()[2]->bias.add_(
        ref.at("shift").item<double>());
  }
  SAM2TrainOptions& o = model->mutable_train_options();
  o.prob_to_use_pt_input_for_eval = 1.0;
  o.pt_sampling_for_eval = PointSamplingMethod::kCenter;
  const TrackingInput input = Input();

  const std::vector<FrameOutput> outs =
      TrackWithReferencePlan(*model, input, ref);
  const int64_t negative_clicks =
      CompareScenario("objects_present", outs, ref, errors_);
  EXPECT_GT(negative_clicks, 0);  // the scenario exercises negative clicks

  const MultiStepMultiMasksAndIous loss_fn(ParitySmallLossOptions());
  const LossTensors losses =
      loss_fn.Compute(ToLossInputs(outs), io().at("input.masks"));
  ExpectLossesClose(losses, ref, errors_);
  losses.at(kCoreLossKey).backward();
  ExpectGradientsClose(*model, ref, {}, errors_);
  errors_.Print();
}

// SAM2Base knobs the fixture leaves at their config values (testdata/knobs.pt,
// from /work/notes/model_b_tools/gen_knobs.py): 8 frames, 4 conditioning
// frames of which only the 2 closest are attended (the others serve as
// ordinary memories), a memory stride of 2, non-overlapping and binarised
// masks for the memory, soft no-object pointers, unsigned temporal encodings
// of pointers from past and future, at most 3 pointers.
TEST_F(SAM2TrainParityTest, MemoryKnobsOnEightFrames) {
  auto loaded = checkpoint::LoadTensorDict(
      Runfile("sam2/training/model/testdata/knobs.pt"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::map<std::string, at::Tensor> ref(loaded->begin(), loaded->end());

  SAM2TrainOptions options = ParitySmallModelOptions();
  modeling::SAM2BaseOptions& b = options.base;
  b.max_cond_frames_in_attn = 2;
  b.memory_temporal_stride_for_eval = 2;
  b.non_overlap_masks_for_mem_enc = true;
  b.binarize_mask_from_pts_for_mem_enc = true;
  b.soft_no_obj_ptr = true;
  b.only_obj_ptrs_in_the_past_for_eval = false;
  b.use_signed_tpos_enc_to_obj_ptrs = false;
  b.max_obj_ptrs_in_encoder = 3;
  options.prob_to_use_pt_input_for_eval = 1.0;
  options.num_correction_pt_per_frame = 3;
  options.pt_sampling_for_eval = PointSamplingMethod::kCenter;
  SAM2Train model = LoadModel(options);
  at::NoGradGuard no_grad;
  model->sam_mask_decoder->pred_obj_score_mlp->linears()[2]->bias.add_(2.0);

  const at::Tensor order = ref.at("frame_order").to(at::kLong);
  const int64_t num_frames = order.size(0);
  TrackingInput input;
  input.img_batch = io().at("input.img_batch").index_select(0, order);
  input.masks = io().at("input.masks").index_select(0, order);
  input.obj_to_frame_idx =
      at::stack({at::arange(num_frames).unsqueeze(1).expand({num_frames, 2}),
                 at::zeros({num_frames, 2}, at::kLong)},
                -1)
          .to(at::kInt);
  const std::vector<FrameOutput> outs =
      TrackWithReferencePlan(*model, input, ref);
  ASSERT_EQ(static_cast<int64_t>(outs.size()), num_frames);
  CompareScenario("knobs", outs, ref, errors_);
  errors_.Print();
}

}  // namespace
}  // namespace sam2::training
