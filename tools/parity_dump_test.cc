// parity_dump on the parity-small fixture: the written file has exactly the
// fixture's keys and matches its numbers at the README's tolerances; another
// config (--set changing the model) gives a complete, finite dump; bad
// inputs fail with errors that name the file and the key.
#include "tools/parity_dump.h"

#include <ATen/ATen.h>
#include <torch/cuda.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/testing/temp_dir.h"
#include "configs/loader.h"
#include "sam2/checkpoint/state_dict.h"
#include "sam2/checkpoint/torch_file.h"
#include "sam2/training/model/sam2_train.h"
#include "sam2/training/model_builder.h"

namespace sam2::tools {
namespace {

using ::testing::HasSubstr;
using TensorMap = std::map<std::string, at::Tensor>;

std::string Runfile(const std::string& path) {
  return std::string(std::getenv("TEST_SRCDIR")) + "/sam2_train_cpp/" + path;
}
std::string TempFile(const std::string& name) {
  // A path only: some tests need its folder not to exist.
  return ::sam2::testutil::TestTmpRoot() + "/" + name;
}
const std::string& FixtureModel() {
  static const auto* path =
      new std::string(Runfile("tests/testdata/parity/parity_small_model.pt"));
  return *path;
}
const std::string& FixtureIo() {
  static const auto* path =
      new std::string(Runfile("tests/testdata/parity/parity_small_io.pt"));
  return *path;
}

TensorMap LoadMap(const std::string& path) {
  absl::StatusOr<checkpoint::TensorDict> dict =
      checkpoint::LoadTensorDict(path);
  EXPECT_TRUE(dict.ok()) << dict.status();
  if (!dict.ok()) return {};
  return TensorMap(dict->begin(), dict->end());
}

std::set<std::string> Keys(const TensorMap& map) {
  std::set<std::string> keys;
  for (const auto& entry : map) keys.insert(entry.first);
  return keys;
}

bool HasPrefix(const std::string& key, const std::string& prefix) {
  return key.rfind(prefix, 0) == 0;
}

double MaxAbs(const at::Tensor& t) {
  return t.numel() == 0 ? 0.0 : t.to(at::kDouble).abs().max().item<double>();
}
double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return MaxAbs(a.to(at::kDouble) - b.to(at::kDouble));
}

// Largest error per group of keys, printed for the report.
class ErrorLog {
 public:
  void Add(const std::string& group, double err) {
    max_[group] = std::max(max_[group], err);
  }
  void Print() const {
    for (const auto& [group, err] : max_) {
      std::cout << "max error " << group << ": " << err << "\n";
      testing::Test::RecordProperty(group, std::to_string(err));
    }
  }

 private:
  std::map<std::string, double> max_;
};

// The gradients that the reference itself does not reproduce within 1e-3
// on another CPU (the same five and the same reason as in
// sam2/training/model/sam2_train_parity_test.cc: float32 rounding in the mask
// decoder's token path, amplified ~1e4 by the random model; see
// /work/notes/issues_model_b.md). Bound 1e-2 instead of 1e-3.
const std::set<std::string>& PlatformSensitiveGradients() {
  static const auto* names = new std::set<std::string>{
      "sam_mask_decoder.transformer.layers.1.mlp.layers.0.weight",
      "sam_mask_decoder.transformer.layers.1.mlp.layers.0.bias",
      "sam_mask_decoder.transformer.layers.0.self_attn.q_proj.weight",
      "sam_mask_decoder.transformer.layers.0.self_attn.q_proj.bias",
      "sam_mask_decoder.transformer.layers.0.self_attn.k_proj.weight",
  };
  return *names;
}

// The fixture's scenarios, run once through the whole tool (config, files,
// scenarios, the written file read back).
class ParityDumpFixtureTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    ParityDumpRequest request;
    request.config = "parity_small";
    request.checkpoint = FixtureModel();
    request.inputs = FixtureIo();
    request.output = TempFile("parity_small_ours.pt");
    const absl::Status status = RunParityDump(request);
    ASSERT_TRUE(status.ok()) << status;
    ours_ = new TensorMap(LoadMap(request.output));
    ref_ = new TensorMap(LoadMap(FixtureIo()));
  }
  static void TearDownTestSuite() {
    delete ours_;
    delete ref_;
  }
  void SetUp() override {
    ASSERT_NE(ours_, nullptr) << "parity_dump failed on the fixture (above)";
  }
  void TearDown() override { errors_.Print(); }

  static const TensorMap& ours() { return *ours_; }
  static const TensorMap& ref() { return *ref_; }

  // max |ours - ref| <= 1e-3 * max(1, max |ref|).
  void ExpectForwardClose(const std::string& key, const std::string& group) {
    const at::Tensor& o = ours().at(key);
    const at::Tensor& r = ref().at(key);
    ASSERT_EQ(o.sizes(), r.sizes()) << key;
    EXPECT_EQ(o.scalar_type(), r.scalar_type()) << key;
    const double err = MaxAbsDiff(o, r);
    EXPECT_LE(err, 1e-3 * std::max(1.0, MaxAbs(r))) << key;
    errors_.Add(group, err);
  }

  static TensorMap* ours_;
  static TensorMap* ref_;
  ErrorLog errors_;
};

TensorMap* ParityDumpFixtureTest::ours_ = nullptr;
TensorMap* ParityDumpFixtureTest::ref_ = nullptr;

TEST_F(ParityDumpFixtureTest, WritesExactlyTheFixtureKeys) {
  const std::set<std::string> ours_keys = Keys(ours()), ref_keys = Keys(ref());
  std::vector<std::string> missing, extra;
  std::set_difference(ref_keys.begin(), ref_keys.end(), ours_keys.begin(),
                      ours_keys.end(), std::back_inserter(missing));
  std::set_difference(ours_keys.begin(), ours_keys.end(), ref_keys.begin(),
                      ref_keys.end(), std::back_inserter(extra));
  EXPECT_TRUE(missing.empty()) << "missing: " << absl::StrJoin(missing, " ");
  EXPECT_TRUE(extra.empty()) << "extra: " << absl::StrJoin(extra, " ");
  EXPECT_EQ(ours_keys.size(), 780u);
}

TEST_F(ParityDumpFixtureTest, InputsAreCopiedUnchanged) {
  for (const char* key :
       {"input.img_batch", "input.masks", "input.obj_to_frame_idx"}) {
    EXPECT_EQ(ours().at(key).scalar_type(), ref().at(key).scalar_type()) << key;
    EXPECT_TRUE(at::equal(ours().at(key), ref().at(key))) << key;
  }
}

TEST_F(ParityDumpFixtureTest, ForwardTensorsMatch) {
  int compared = 0;
  for (const auto& [key, value] : ref()) {
    std::string group;
    if (HasPrefix(key, "image_encoder.")) {
      group = "image_encoder";
    } else if (HasPrefix(key, "mask_prompt.") ||
               HasPrefix(key, "point_prompt.")) {
      if (absl::EndsWith(key, ".point_coords") ||
          absl::EndsWith(key, ".point_labels") ||
          absl::EndsWith(key, ".num_steps")) {
        continue;  // exact, below
      }
      group =
          key.substr(0, key.find('.')) + "." + key.substr(key.rfind('.') + 1);
    } else {
      continue;
    }
    ExpectForwardClose(key, group);
    ++compared;
  }
  EXPECT_EQ(compared, 6 + 26 - 4 + 50 - 4 - 2 * 8);
}

TEST_F(ParityDumpFixtureTest, ClicksAndStepCountsAreExact) {
  int compared = 0;
  for (const auto& [key, value] : ref()) {
    if (!absl::EndsWith(key, ".point_coords") &&
        !absl::EndsWith(key, ".point_labels") &&
        !absl::EndsWith(key, ".num_steps")) {
      continue;
    }
    EXPECT_EQ(ours().at(key).scalar_type(), value.scalar_type()) << key;
    EXPECT_TRUE(at::equal(ours().at(key), value))
        << key << "\nours " << ours().at(key) << "\nref " << value;
    ++compared;
  }
  EXPECT_EQ(compared, 8 + 16);
}

TEST_F(ParityDumpFixtureTest, LossesMatch) {
  for (const char* name :
       {"loss_mask", "loss_dice", "loss_iou", "loss_class", "core_loss"}) {
    const std::string key = absl::StrCat("loss.", name);
    const double o = ours().at(key).item<double>();
    const double r = ref().at(key).item<double>();
    const double rel = std::abs(o - r) / std::max(std::abs(r), 1e-12);
    EXPECT_LE(rel, 1e-4) << key << " ours " << o << " ref " << r;
    errors_.Add("loss_relative", rel);
  }
}

TEST_F(ParityDumpFixtureTest, GradientsMatch) {
  double largest = 0;
  for (const auto& [key, value] : ref()) {
    if (HasPrefix(key, "grad.")) largest = std::max(largest, MaxAbs(value));
  }
  const double floor = 1e-6 * largest;
  int compared = 0;
  for (const auto& [key, r] : ref()) {
    if (!HasPrefix(key, "grad.")) continue;
    const at::Tensor& o = ours().at(key);
    ASSERT_EQ(o.sizes(), r.sizes()) << key;
    ++compared;
    const double ref_max = MaxAbs(r);
    if (ref_max < floor) {
      // Rounding noise around a true zero in the reference.
      EXPECT_LE(MaxAbs(o), floor) << key;
      errors_.Add("grad_below_floor_relative_to_floor", MaxAbs(o) / floor);
      continue;
    }
    const bool exempted = PlatformSensitiveGradients().count(key.substr(5));
    const double rel = MaxAbsDiff(o, r) / ref_max;
    EXPECT_LE(rel, exempted ? 1e-2 : 1e-3) << key << " ref max " << ref_max;
    errors_.Add(exempted ? "grad_relative_exempted" : "grad_relative", rel);
    if (r.numel() > 16) {
      const at::Tensor a = o.to(at::kDouble).flatten();
      const at::Tensor b = r.to(at::kDouble).flatten();
      const double cosine = (a * b).sum().item<double>() /
                            (a.norm().item<double>() * b.norm().item<double>());
      EXPECT_GE(cosine, 0.9999) << key;
      errors_.Add("grad_1_minus_cosine", 1 - cosine);
    }
  }
  EXPECT_EQ(compared, 343);
}

// The clipped gradient's direction g / (|g| + eps) of every element:
// AdamW's first step moves each element by exactly lr times it (m / sqrt(v)
// after bias correction is g / |g|), plus the weight decay.
at::Tensor FirstAdamWStepDirection(const TensorMap& dump,
                                   const std::string& name) {
  auto grad = dump.find("grad." + name);
  if (grad == dump.end()) return at::zeros({}, at::kDouble);
  const double norm =
      dump.at("optim.grad_total_norm_before_clip").item<double>();
  // clip_grad_norm_(max_norm=0.1) of the fixture's optimizer.
  const double clip = std::min(1.0, 0.1 / (norm + 1e-6));
  const at::Tensor g = grad->second.to(at::kDouble) * clip;
  return g / (g.abs() + 1e-8);
}

// The README's 1e-6 bound on after_step holds for the optimizer fed the
// reference's own gradients (sam2/training/optim:adamw_test). Here each side
// steps with its own gradients, which agree to 1e-3 of each tensor's max
// only: where an element's clipped gradient is ~eps (1e-8) or changes sign
// within that tolerance, Adam's normalised first step g / (|g| + eps) moves
// by up to 2 lr (measured: 9.7e-6 with lr 5e-6, on 6e-5 of all elements, in
// 26 tensors). So the bound is per element: 1e-6 plus lr times the change of
// the step direction that our and the reference's gradients give.
TEST_F(ParityDumpFixtureTest, ClippedAdamWStepMatches) {
  const double o =
      ours().at("optim.grad_total_norm_before_clip").item<double>();
  const double r = ref().at("optim.grad_total_norm_before_clip").item<double>();
  EXPECT_LE(std::abs(o - r), 1e-4 * r);
  errors_.Add("grad_total_norm_relative", std::abs(o - r) / r);

  std::ifstream json_file(
      Runfile("tests/testdata/parity/parity_small_optim.json"));
  const nlohmann::json hyper = nlohmann::json::parse(json_file);
  int compared = 0;
  int64_t elements = 0, above_plain_bound = 0;
  for (const auto& [key, r_param] : ref()) {
    if (!HasPrefix(key, "after_step.")) continue;
    const std::string name = key.substr(std::string("after_step.").size());
    const double lr = hyper.at(name).at("lr@0.0").get<double>();
    const at::Tensor diff =
        (ours().at(key).to(at::kDouble) - r_param.to(at::kDouble)).abs();
    const at::Tensor direction_change = (FirstAdamWStepDirection(ours(), name) -
                                         FirstAdamWStepDirection(ref(), name))
                                            .abs();
    const double excess =
        MaxAbs(at::clamp_min(diff - lr * direction_change, 0.0));
    EXPECT_LE(excess, 1e-6) << key;
    errors_.Add("after_step_abs", MaxAbs(diff));
    errors_.Add("after_step_abs_beyond_lr_times_direction_change", excess);
    elements += diff.numel();
    above_plain_bound += (diff > 1e-6).sum().item<int64_t>();
    ++compared;
  }
  EXPECT_EQ(compared, 346);
  errors_.Add("after_step_fraction_of_elements_above_1e-6",
              static_cast<double>(above_plain_bound) / elements);
}

// Another model from the same config: --set changes the trunk, the memory
// attention, the memory bank, the corrections and the clipping; random
// weights of that model, 3 frames of the fixture's inputs.
constexpr char kVariantSet[] = R"(
  model {
    num_maskmem: 3
    num_correction_pt_per_frame: 2
    image_encoder { trunk { stages: [1, 1, 2, 1] global_att_blocks: [2] } }
    memory_attention { num_layers: 1 }
  }
  optim { clip_max_norm: 1.0 })";

// The parameters the reference gives no gradient in these scenarios
// (unused in eval tracking: no_mem_pos_enc with directly_add_no_mem_embed,
// mask_downsample without use_mask_input_as_output_without_sam = false).
bool GetsNoGradient(const std::string& name) {
  return name == "no_mem_pos_enc" || HasPrefix(name, "mask_downsample.");
}

// The shapes the README gives in terms of the model: O objects, image size
// H, hidden_dim d, mem_dim m; M masks per step (1 or 3, as the step's
// multimasks).
void ExpectShapesOfTheModel(const TensorMap& dump,
                            const training::SAM2TrainImpl& model,
                            int64_t image_size, int64_t frames) {
  using Shape = std::vector<int64_t>;
  const int64_t objects = dump.at("input.masks").size(1);
  const int64_t h = image_size, d = model.hidden_dim(), m = model.mem_dim();
  EXPECT_EQ(dump.at("image_encoder.backbone_fpn.2").sizes(),
            (Shape{1, d, h / 16, h / 16}));
  EXPECT_EQ(dump.at("image_encoder.vision_pos_enc.2").sizes(),
            (Shape{1, d, h / 16, h / 16}));
  EXPECT_EQ(dump.at("image_encoder.backbone_fpn.1").sizes().slice(2),
            (Shape{h / 8, h / 8}));
  EXPECT_EQ(dump.at("image_encoder.backbone_fpn.0").sizes().slice(2),
            (Shape{h / 4, h / 4}));
  for (const std::string scenario : {"mask_prompt", "point_prompt"}) {
    for (int64_t t = 0; t < frames; ++t) {
      const std::string f = absl::StrCat(scenario, ".frame", t);
      EXPECT_EQ(dump.at(f + ".pred_masks").sizes(),
                (Shape{objects, 1, h / 4, h / 4}))
          << f;
      EXPECT_EQ(dump.at(f + ".pred_masks_high_res").sizes(),
                (Shape{objects, 1, h, h}))
          << f;
      EXPECT_EQ(dump.at(f + ".object_score_logits").sizes(),
                (Shape{objects, 1}))
          << f;
      EXPECT_EQ(dump.at(f + ".maskmem_features").sizes(),
                (Shape{objects, m, h / 16, h / 16}))
          << f;
      const std::string step0 = f + ".step0";
      const at::Tensor& ious = dump.at(step0 + ".ious");
      ASSERT_EQ(ious.dim(), 2) << step0;
      EXPECT_EQ(ious.size(0), objects) << step0;
      EXPECT_TRUE(ious.size(1) == 1 || ious.size(1) == 3) << step0;
      if (t <= 1) {
        EXPECT_EQ(dump.at(step0 + ".multimasks_high_res").sizes(),
                  (Shape{objects, ious.size(1), h, h}))
            << step0;
      }
    }
  }
}

// Runs the tool with `config` + `sets` on random weights of that model and
// the first `frames` frames of the fixture's inputs, and checks that every
// key the scenarios define is there, finite, and consistent with the model.
void ExpectCompleteFiniteDump(const std::string& config,
                              const std::vector<std::string>& sets,
                              int64_t frames, int corrections) {
  absl::StatusOr<config::LoadedExperiment> loaded =
      config::LoadExperiment({config, sets, {}});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  auto options = training::ModelOptionsFromConfig(loaded->experiment.model());
  ASSERT_TRUE(options.ok()) << options.status();
  training::SAM2Train model(*options);
  const checkpoint::TensorDict weights = checkpoint::ModelStateDict(*model);
  const std::string checkpoint = TempFile("variant_model.pt");
  ASSERT_TRUE(checkpoint::SaveModelCheckpoint(checkpoint, weights).ok());

  absl::StatusOr<ParityInputs> fixture_inputs = LoadParityInputs(FixtureIo());
  ASSERT_TRUE(fixture_inputs.ok()) << fixture_inputs.status();
  const std::string inputs = TempFile("variant_inputs.pt");
  ASSERT_TRUE(
      SaveParityDump(
          inputs,
          {{"input.img_batch", fixture_inputs->img_batch.slice(0, 0, frames)},
           {"input.masks", fixture_inputs->masks.slice(0, 0, frames)},
           {"input.obj_to_frame_idx",
            fixture_inputs->obj_to_frame_idx.slice(0, 0, frames)}})
          .ok());

  ParityDumpRequest request;
  request.config = config;
  request.sets = sets;
  request.checkpoint = checkpoint;
  request.inputs = inputs;
  request.output = TempFile("variant_ours.pt");
  const absl::Status status = RunParityDump(request);
  ASSERT_TRUE(status.ok()) << status;
  const TensorMap ours = LoadMap(request.output);

  // The keys the scenarios must produce for this model and these inputs.
  std::set<std::string> expected = {"input.img_batch", "input.masks",
                                    "input.obj_to_frame_idx",
                                    "optim.grad_total_norm_before_clip"};
  for (int level = 0; level < 3; ++level) {
    expected.insert(absl::StrCat("image_encoder.backbone_fpn.", level));
    expected.insert(absl::StrCat("image_encoder.vision_pos_enc.", level));
  }
  for (const std::string scenario : {"mask_prompt", "point_prompt"}) {
    for (int t = 0; t < frames; ++t) {
      const std::string f = absl::StrCat(scenario, ".frame", t);
      for (const char* field :
           {".pred_masks", ".pred_masks_high_res", ".object_score_logits",
            ".maskmem_features", ".num_steps"}) {
        expected.insert(f + field);
      }
      const bool clicks = scenario == "point_prompt" && t == 0;
      const int steps = clicks ? 1 + corrections : 1;
      for (int s = 0; s < steps; ++s) {
        const std::string p = absl::StrCat(f, ".step", s);
        expected.insert(p + ".ious");
        if (t <= 1 && (s == 0 || s == steps - 1)) {
          expected.insert(p + ".multimasks_high_res");
        }
        if (clicks) {
          expected.insert(p + ".point_coords");
          expected.insert(p + ".point_labels");
        }
      }
    }
  }
  for (const char* name :
       {"loss_mask", "loss_dice", "loss_iou", "loss_class", "core_loss"}) {
    expected.insert(absl::StrCat("loss.", name));
  }
  const TensorMap initial(weights.begin(), weights.end());
  for (const auto& param : model->named_parameters()) {
    expected.insert("after_step." + param.key());
    if (!GetsNoGradient(param.key())) expected.insert("grad." + param.key());
  }
  EXPECT_THAT(Keys(ours), ::testing::ContainerEq(expected));

  for (const auto& [key, value] : ours) {
    if (value.is_floating_point()) {
      EXPECT_TRUE(at::isfinite(value).all().item<bool>()) << key;
    }
  }
  ExpectShapesOfTheModel(ours, *model, options->base.image_size, frames);
  EXPECT_EQ(ours.at("point_prompt.frame0.num_steps").item<int64_t>(),
            1 + corrections);
  EXPECT_EQ(ours.at(absl::StrCat("point_prompt.frame0.step", corrections,
                                 ".point_coords"))
                .size(1),
            1 + corrections);
  EXPECT_GT(ours.at("loss.core_loss").item<double>(), 0);
  // One AdamW step moved the parameters that got a gradient, by at most a
  // few learning rates (lr <= 5e-6 here), and left the others alone.
  int moved = 0;
  for (const auto& param : model->named_parameters()) {
    const at::Tensor& after = ours.at("after_step." + param.key());
    const at::Tensor& before = initial.at(param.key());
    ASSERT_EQ(after.sizes(), before.sizes()) << param.key();
    const double change = MaxAbsDiff(after, before);
    if (ours.count("grad." + param.key())) {
      EXPECT_EQ(ours.at("grad." + param.key()).sizes(), before.sizes());
      EXPECT_LE(change, 1e-5) << param.key();
      moved += change > 0;
    } else {
      EXPECT_EQ(change, 0.0) << param.key();
    }
  }
  EXPECT_GT(moved, 100);
}

TEST(ParityDumpVariantTest, ParitySmallWithOverridesGivesEveryKeyFinite) {
  ExpectCompleteFiniteDump("parity_small", {kVariantSet}, /*frames=*/3,
                           /*corrections=*/2);
}

// An official model preset (Hiera-T, SAM 2.1) with the MOSE recipe's
// prompts, loss and optimizer, at the fixture's 256x256 images.
TEST(ParityDumpVariantTest, MoseRecipeWithHieraTGivesEveryKeyFinite) {
  const std::string sets = R"(
    model_preset: "sam2.1_hiera_t"
    model {
      image_size: 256
      num_correction_pt_per_frame: 1
      memory_attention { layer {
        self_attention { feat_sizes: [16, 16] }
        cross_attention { feat_sizes: [16, 16] }
      } }
    })";
  ExpectCompleteFiniteDump("mose", {sets}, /*frames=*/2, /*corrections=*/1);
}

TEST(ParityDumpErrorsTest, MissingCheckpointNamesTheFile) {
  ParityDumpRequest request;
  request.config = "parity_small";
  request.checkpoint = TempFile("no_such_model.pt");
  request.inputs = FixtureIo();
  request.output = TempFile("unused.pt");
  const absl::Status status = RunParityDump(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(TempFile("no_such_model.pt")));
}

TEST(ParityDumpErrorsTest, InputsWithoutImgBatchNameTheFileAndKey) {
  absl::StatusOr<ParityInputs> fixture_inputs = LoadParityInputs(FixtureIo());
  ASSERT_TRUE(fixture_inputs.ok()) << fixture_inputs.status();
  const std::string inputs = TempFile("inputs_without_img_batch.pt");
  ASSERT_TRUE(SaveParityDump(inputs, {{"input.masks", fixture_inputs->masks},
                                      {"input.obj_to_frame_idx",
                                       fixture_inputs->obj_to_frame_idx}})
                  .ok());
  ParityDumpRequest request;
  request.config = "parity_small";
  request.checkpoint = FixtureModel();
  request.inputs = inputs;
  request.output = TempFile("unused.pt");
  const absl::Status status = RunParityDump(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), HasSubstr(inputs));
  EXPECT_THAT(std::string(status.message()), HasSubstr("'input.img_batch'"));
}

TEST(ParityDumpErrorsTest, MalformedInputNamesTheKey) {
  absl::StatusOr<ParityInputs> fixture_inputs = LoadParityInputs(FixtureIo());
  ASSERT_TRUE(fixture_inputs.ok()) << fixture_inputs.status();
  const std::string inputs = TempFile("inputs_with_3d_masks.pt");
  ASSERT_TRUE(
      SaveParityDump(inputs, {{"input.img_batch", fixture_inputs->img_batch},
                              {"input.masks", fixture_inputs->masks[0]},
                              {"input.obj_to_frame_idx",
                               fixture_inputs->obj_to_frame_idx}})
          .ok());
  const absl::StatusOr<ParityInputs> loaded = LoadParityInputs(inputs);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(inputs));
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr("input.masks"));
}

TEST(ParityDumpErrorsTest, WeightsOfAnotherModelAreRefused) {
  ParityDumpRequest request;
  request.config = "parity_small";
  request.sets = {kVariantSet};
  request.checkpoint = FixtureModel();
  request.inputs = FixtureIo();
  request.output = TempFile("unused.pt");
  const absl::Status status = RunParityDump(request);
  EXPECT_FALSE(status.ok());
  // The error names the file and a key that does not fit.
  EXPECT_THAT(std::string(status.message()), HasSubstr(FixtureModel()));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("memory_attention.layers.1"));
}

TEST(ParityDumpErrorsTest, InputsOfAnotherImageSizeNameTheFile) {
  ParityDumpRequest request;
  request.config = "parity_small";
  request.sets = {R"(model {
    image_size: 512
    memory_attention { layer {
      self_attention { feat_sizes: [32, 32] }
      cross_attention { feat_sizes: [32, 32] }
    } }
  })"};
  request.checkpoint = FixtureModel();
  request.inputs = FixtureIo();
  request.output = TempFile("unused.pt");
  const absl::Status status = RunParityDump(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr(FixtureIo()));
  EXPECT_THAT(std::string(status.message()), HasSubstr("256x256"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("image_size is 512"));
}

TEST(ParityDumpErrorsTest, MissingOutputFolderIsReportedBeforeRunning) {
  ParityDumpRequest request;
  request.config = "parity_small";
  request.checkpoint = FixtureModel();
  request.inputs = FixtureIo();
  request.output = TempFile("no_such_dir/out.pt");
  const absl::Status status = RunParityDump(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), HasSubstr("no_such_dir/out.pt"));
}

TEST(ParityDumpErrorsTest, UnknownOrUnusableDeviceIsReportedBeforeRunning) {
  ParityDumpRequest request;
  request.config = "parity_small";
  request.checkpoint = FixtureModel();
  request.inputs = FixtureIo();
  request.output = TempFile("unused.pt");
  request.device = "tpu";
  absl::Status status = RunParityDump(request);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("cpu or cuda"));
  if (!torch::cuda::is_available()) {
    request.device = "cuda";
    status = RunParityDump(request);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(status.message()), HasSubstr("no GPU is usable"));
  }
}

}  // namespace
}  // namespace sam2::tools
