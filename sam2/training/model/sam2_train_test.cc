// SAM2Train in training mode: the prompt mix and frame choices follow the
// options, the seeded generator makes them reproducible, and a training step
// gives finite gradients to every trainable parameter (none to a frozen image
// encoder).
#include "sam2/training/model/sam2_train.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sam2/checkpoint/state_dict.h"
#include "sam2/checkpoint/torch_file.h"
#include "sam2/training/model/loss_fns.h"
#include "sam2/training/test_models.h"

namespace sam2::training {
namespace {

using modeling::FrameOutput;

constexpr int64_t kFrames = 4, kObjects = 2;

// Ellipses that move over the frames; object 1 leaves on the last frame.
TrackingInput MakeInput(int64_t size, bool with_images) {
  TrackingInput input;
  const at::Tensor yy = at::arange(size).unsqueeze(1).to(at::kFloat);
  const at::Tensor xx = at::arange(size).unsqueeze(0).to(at::kFloat);
  const double s = size / 256.0;
  std::vector<at::Tensor> frames;
  for (int64_t t = 0; t < kFrames; ++t) {
    std::vector<at::Tensor> objects;
    for (int64_t o = 0; o < kObjects; ++o) {
      const double cy = s * (80 + 70 * o + 5 * t),
                   cx = s * (90 + 40 * o + 7 * t);
      const double ry = s * (30 + 4 * t), rx = s * (45 - 3 * t);
      at::Tensor m = ((yy - cy) / ry).pow(2) + ((xx - cx) / rx).pow(2) <= 1;
      if (o == 1 && t == kFrames - 1) m.zero_();
      objects.push_back(m);
    }
    frames.push_back(at::stack(objects));
  }
  input.masks = at::stack(frames);
  at::Tensor idx = at::empty({kFrames, kObjects, 2}, at::kInt);
  for (int64_t t = 0; t < kFrames; ++t) {
    for (int64_t o = 0; o < kObjects; ++o) {
      idx[t][o][0] = static_cast<int32_t>(t);
      idx[t][o][1] = 0;
    }
  }
  input.obj_to_frame_idx = idx;
  input.img_batch = with_images ? at::randn({kFrames, 1, 3, size, size})
                                : at::zeros({kFrames, 1, 3, size, size});
  return input;
}

enum class PromptKind { kMask, kPoints, kBox };

PromptKind KindOf(const PromptPlan& plan) {
  if (!plan.use_pt_input) return PromptKind::kMask;
  const at::Tensor labels = plan.point_inputs_per_frame.at(0).point_labels;
  return labels.size(1) == 2 && labels[0][0].item<int>() == 2
             ? PromptKind::kBox
             : PromptKind::kPoints;
}

TEST(SAM2TrainPromptsTest, TrainingMixAndFrameChoicesFollowTheOptions) {
  // The MOSE settings: P(points) 0.5 of which boxes 0.5; 1-2 initial
  // conditioning frames; 1-2 corrected frames.
  SAM2Train model(ParitySmallModelOptions());
  model->train();
  model->set_seed(123);
  const TrackingInput input = MakeInput(32, /*with_images=*/false);
  constexpr int kSamples = 3000;
  std::map<PromptKind, int> kinds;
  std::map<size_t, int> init_counts;
  std::map<std::pair<size_t, size_t>, int> correct_counts;  // (init, corr)
  for (int i = 0; i < kSamples; ++i) {
    const PromptPlan plan = model->prepare_prompt_inputs(input);
    const PromptKind kind = KindOf(plan);
    ++kinds[kind];
    ASSERT_FALSE(plan.init_cond_frames.empty());
    EXPECT_EQ(plan.init_cond_frames[0], 0);
    const std::set<int64_t> init(plan.init_cond_frames.begin(),
                                 plan.init_cond_frames.end());
    EXPECT_EQ(init.size(), plan.init_cond_frames.size());
    EXPECT_EQ(init.size() + plan.frames_not_in_init_cond.size(),
              static_cast<size_t>(kFrames));
    ++init_counts[init.size()];
    for (int64_t t = 0; t < kFrames; ++t) {
      const bool has_mask = plan.mask_inputs_per_frame.count(t) > 0;
      const bool has_points = plan.point_inputs_per_frame.count(t) > 0;
      EXPECT_EQ(has_mask || has_points, init.count(t) > 0);
      EXPECT_FALSE(has_mask && has_points);
      EXPECT_EQ(has_points, init.count(t) > 0 && plan.use_pt_input);
    }
    if (kind == PromptKind::kMask) {
      EXPECT_TRUE(plan.frames_to_add_correction_pt.empty());
    } else {
      // Corrections on every initial frame, plus maybe one more frame.
      const auto& corr = plan.frames_to_add_correction_pt;
      EXPECT_TRUE(std::equal(plan.init_cond_frames.begin(),
                             plan.init_cond_frames.end(), corr.begin()));
      EXPECT_LE(corr.size(), 2u);
      ++correct_counts[{init.size(), corr.size()}];
    }
  }
  EXPECT_NEAR(kinds[PromptKind::kMask] / double(kSamples), 0.5, 0.03);
  EXPECT_NEAR(kinds[PromptKind::kPoints] / double(kSamples), 0.25, 0.03);
  EXPECT_NEAR(kinds[PromptKind::kBox] / double(kSamples), 0.25, 0.03);
  EXPECT_NEAR(init_counts[1] / double(kSamples), 0.5, 0.03);
  EXPECT_NEAR(init_counts[2] / double(kSamples), 0.5, 0.03);
  // With one initial frame, 1 or 2 corrected frames equally often; with two,
  // always both.
  const int one_one = correct_counts[std::make_pair(1, 1)];
  const int one_two = correct_counts[std::make_pair(1, 2)];
  EXPECT_NEAR(one_one / double(one_one + one_two), 0.5, 0.05);
  EXPECT_GT(correct_counts[std::make_pair(2, 2)], 0);
  EXPECT_EQ(correct_counts[std::make_pair(2, 1)], 0);
}

TEST(SAM2TrainPromptsTest, FixedCountsWithoutRandomisation) {
  SAM2TrainOptions options = ParitySmallModelOptions();
  options.num_init_cond_frames_for_train = 3;
  options.rand_init_cond_frames_for_train = false;
  options.num_frames_to_correct_for_train = 4;
  options.rand_frames_to_correct_for_train = false;
  options.prob_to_use_pt_input_for_train = 1.0;
  SAM2Train model(options);
  model->train();
  const TrackingInput input = MakeInput(32, false);
  for (int i = 0; i < 50; ++i) {
    const PromptPlan plan = model->prepare_prompt_inputs(input);
    EXPECT_EQ(plan.init_cond_frames.size(), 3u);
    EXPECT_EQ(plan.frames_to_add_correction_pt.size(), 4u);
    EXPECT_EQ(plan.point_inputs_per_frame.size(), 3u);
  }
}

TEST(SAM2TrainPromptsTest, EvalUsesTheEvalOptions) {
  SAM2TrainOptions options = ParitySmallModelOptions();
  options.prob_to_use_pt_input_for_eval = 1.0;
  options.prob_to_use_box_input_for_eval = 1.0;
  SAM2Train model(options);
  model->eval();
  const PromptPlan plan = model->prepare_prompt_inputs(MakeInput(32, false));
  EXPECT_EQ(plan.init_cond_frames, std::vector<int64_t>{0});
  EXPECT_EQ(KindOf(plan), PromptKind::kBox);
  EXPECT_EQ(plan.frames_to_add_correction_pt, std::vector<int64_t>{0});
}

TEST(SAM2TrainPromptsTest, SameSeedSamePrompts) {
  SAM2Train model(ParitySmallModelOptions());
  model->train();
  const TrackingInput input = MakeInput(32, false);
  auto draw = [&](uint64_t seed) {
    model->set_seed(seed);
    std::vector<at::Tensor> points;
    std::vector<int64_t> frames;
    for (int i = 0; i < 20; ++i) {
      const PromptPlan plan = model->prepare_prompt_inputs(input);
      frames.insert(frames.end(), plan.init_cond_frames.begin(),
                    plan.init_cond_frames.end());
      frames.push_back(-1);
      for (const auto& [t, p] : plan.point_inputs_per_frame) {
        points.push_back(p.point_coords);
      }
    }
    return std::make_pair(frames, points);
  };
  const auto a = draw(5), b = draw(5), c = draw(6);
  EXPECT_EQ(a.first, b.first);
  ASSERT_EQ(a.second.size(), b.second.size());
  for (size_t i = 0; i < a.second.size(); ++i) {
    EXPECT_TRUE(at::equal(a.second[i], b.second[i]));
  }
  bool differs = a.first != c.first || a.second.size() != c.second.size();
  for (size_t i = 0; !differs && i < a.second.size(); ++i) {
    differs = !at::equal(a.second[i], c.second[i]);
  }
  EXPECT_TRUE(differs);
}

std::string Runfile(const std::string& path) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/sam2_train_cpp/" + path;
}

// The parity-small weights with objects predicted present (see the parity
// test), so that every head gets gradients.
SAM2Train LoadTrainModel(SAM2TrainOptions options) {
  options.num_correction_pt_per_frame = 2;  // a quicker step
  SAM2Train model(options);
  auto state = checkpoint::LoadStateDict(
      Runfile("tests/testdata/parity/parity_small_model.pt"));
  EXPECT_TRUE(state.ok()) << state.status();
  auto report =
      checkpoint::LoadStateDictIntoModel(*model, *state, {}, "parity");
  EXPECT_TRUE(report.ok()) << report.status();
  at::NoGradGuard no_grad;
  model->sam_mask_decoder->pred_obj_score_mlp->linears()[2]->bias.add_(2.0);
  return model;
}

// One training step's forward and backward; checks the steps per frame.
void TrainStep(SAM2Train& model, const TrackingInput& input) {
  const std::vector<FrameOutput> outs = model->forward(input);
  ASSERT_EQ(outs.size(), static_cast<size_t>(kFrames));
  const int64_t corrections =
      model->train_options().num_correction_pt_per_frame;
  for (const FrameOutput& out : outs) {
    const size_t steps = out.multistep_pred_ious.size();
    EXPECT_TRUE(steps == 1 || steps == static_cast<size_t>(1 + corrections));
    // Each correction step adds exactly one click.
    for (size_t s = 1; s < steps; ++s) {
      ASSERT_TRUE(out.multistep_point_inputs[s].has_value());
      const int64_t before =
          out.multistep_point_inputs[s - 1].has_value()
              ? out.multistep_point_inputs[s - 1]->point_labels.size(1)
              : 0;
      EXPECT_EQ(out.multistep_point_inputs[s]->point_labels.size(1),
                before + 1);
    }
    EXPECT_EQ(out.multistep_pred_masks_high_res.size(1),
              static_cast<int64_t>(steps));
  }
  const MultiStepMultiMasksAndIous loss_fn(ParitySmallLossOptions());
  const LossTensors losses = loss_fn.Compute(ToLossInputs(outs), input.masks);
  const at::Tensor& core = losses.at(kCoreLossKey);
  ASSERT_TRUE(std::isfinite(core.item<double>()));
  core.backward();
}

TEST(SAM2TrainStepTest, EveryTrainableParameterGetsAFiniteGradient) {
  at::manual_seed(0);
  SAM2Train model = LoadTrainModel(ParitySmallModelOptions());
  model->train();
  model->set_seed(1);
  const TrackingInput input = MakeInput(256, /*with_images=*/true);
  // The no-object parameters only act where an object is absent: a clip
  // whose object 1 is missing from the prompted first frame.
  TrackingInput absent = input;
  absent.masks = input.masks.clone();
  absent.masks[0][1].zero_();
  // no_mem_pos_enc is unused with directly_add_no_mem_embed (as in the
  // reference, which trains with find_unused_parameters).
  const std::set<std::string> unused = {"no_mem_pos_enc"};
  auto all_have_gradients = [&](bool final_check) {
    bool all = true;
    for (const auto& param : model->named_parameters()) {
      const at::Tensor& grad = param.value().grad();
      if (unused.count(param.key())) {
        EXPECT_FALSE(grad.defined()) << param.key();
        continue;
      }
      if (!grad.defined()) {
        EXPECT_FALSE(final_check) << "no gradient for " << param.key();
        all = false;
        continue;
      }
      EXPECT_TRUE(at::isfinite(grad).all().item<bool>()) << param.key();
      if (grad.abs().max().item<double>() == 0.0) {
        // e.g. a multimask output never picked as the best mask yet.
        EXPECT_FALSE(final_check) << "zero gradient for " << param.key();
        all = false;
      }
    }
    return all;
  };
  // Steps with masks, clicks and boxes (gradients accumulate), until every
  // parameter has had a gradient; six steps are plenty.
  SAM2TrainOptions& o = model->mutable_train_options();
  struct Step {
    double p_points, p_box;
    bool absent_object;
  };
  const Step steps[] = {{0, 0, true}, {1, 0, false}, {1, 1, false},
                        {1, 0, true}, {1, 1, true},  {0, 0, false}};
  int used = 0;
  for (const Step& step : steps) {
    o.prob_to_use_pt_input_for_train = step.p_points;
    o.prob_to_use_box_input_for_train = step.p_box;
    TrainStep(model, step.absent_object ? absent : input);
    ++used;
    if (used >= 3 && all_have_gradients(/*final_check=*/false)) break;
  }
  all_have_gradients(/*final_check=*/true);
  RecordProperty("steps_until_all_parameters_had_gradients", used);
}

TEST(SAM2TrainStepTest, FrozenImageEncoderGetsNoGradient) {
  at::manual_seed(0);
  SAM2TrainOptions options = ParitySmallModelOptions();
  options.freeze_image_encoder = true;
  options.prob_to_use_pt_input_for_train = 1.0;
  SAM2Train model = LoadTrainModel(options);
  model->train();
  TrainStep(model, MakeInput(256, /*with_images=*/true));
  int64_t frozen = 0, trained = 0;
  for (const auto& param : model->named_parameters()) {
    if (param.key().rfind("image_encoder.", 0) == 0) {
      EXPECT_FALSE(param.value().requires_grad()) << param.key();
      EXPECT_FALSE(param.value().grad().defined()) << param.key();
      ++frozen;
    } else if (param.value().grad().defined()) {
      ++trained;
    }
  }
  EXPECT_GT(frozen, 0);
  EXPECT_GT(trained, 100);
}

}  // namespace
}  // namespace sam2::training
