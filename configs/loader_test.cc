#include "configs/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "base/testing/temp_dir.h"

namespace sam2::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string TempDir() { return ::sam2::testutil::TestTmpRoot(); }

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = TempDir() + "/" + name;
  std::filesystem::create_directories(
      std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
  return path;
}

absl::StatusOr<LoadedExperiment> Load(const std::string& config,
                                      std::vector<std::string> overrides = {}) {
  LoadRequest request;
  request.config = config;
  request.overrides = std::move(overrides);
  return LoadExperiment(request);
}

ValidationOptions ModelOnly() {
  ValidationOptions options;
  options.require_train_data = false;
  options.check_paths = false;
  return options;
}

class PresetTest : public ::testing::TestWithParam<const char*> {};

TEST_P(PresetTest, ParsesAndValidates) {
  const std::string path = WriteTemp(
      absl::StrCat("preset_", GetParam(), ".pbtxt"),
      absl::StrCat("model_preset: \"sam2.1_hiera_", GetParam(), "\"\n"));
  absl::StatusOr<LoadedExperiment> loaded = Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(ValidateExperiment(*loaded, ModelOnly()).ok())
      << ValidateExperiment(*loaded, ModelOnly());
  const ModelConfig& model = loaded->experiment.model();
  EXPECT_EQ(model.image_size(), 1024);
  EXPECT_EQ(model.memory_attention().layer().cross_attention().kv_in_dim(), 64);
  EXPECT_TRUE(model.use_obj_ptrs_in_encoder());
}

INSTANTIATE_TEST_SUITE_P(AllSizes, PresetTest,
                         ::testing::Values("t", "s", "b+", "l"));

TEST(PresetTest, SizesDifferAsTheOfficialConfigs) {
  auto trunk = [](const char* size) {
    absl::StatusOr<LoadedExperiment> loaded = Load(
        WriteTemp(absl::StrCat("trunk_", size, ".pbtxt"),
                  absl::StrCat("model_preset: \"sam2.1_hiera_", size, "\"")));
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return loaded->experiment.model().image_encoder().trunk();
  };
  EXPECT_EQ(trunk("t").stages().size(), 4);
  EXPECT_EQ(trunk("t").stages(2), 7);
  EXPECT_EQ(trunk("s").stages(2), 11);
  // b+ keeps Hiera's defaults for the lists it does not name.
  EXPECT_EQ(trunk("b+").embed_dim(), 112);
  EXPECT_EQ(trunk("b+").stages(2), 16);
  EXPECT_EQ(trunk("b+").global_att_blocks(0), 12);
  EXPECT_EQ(trunk("b+").window_pos_embed_bkg_spatial_size(0), 14);
  EXPECT_EQ(trunk("l").window_spec(2), 16);
  EXPECT_EQ(trunk("l").global_att_blocks(2), 43);
}

TEST(MoseTest, ParsesWithTheOfficialRecipe) {
  absl::StatusOr<LoadedExperiment> loaded = Load("mose");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const Experiment& e = loaded->experiment;
  EXPECT_EQ(e.model().image_encoder().trunk().embed_dim(), 112);
  EXPECT_FLOAT_EQ(e.model().image_encoder().trunk().drop_path_rate(), 0.1f);
  EXPECT_EQ(e.trainer().max_epochs(), 40);
  EXPECT_EQ(e.optim().lr_size(), 2);
  EXPECT_DOUBLE_EQ(e.optim().lr(1).scheduler().cosine().start_value(), 3e-6);
  EXPECT_EQ(e.data().train().datasets(0).concat(0).transforms_size(), 8);
  EXPECT_EQ(e.data()
                .train()
                .datasets(0)
                .concat(0)
                .transforms(7)
                .normalize()
                .std_size(),
            3);
  // The structure is valid; only the paths a user must fill in are missing.
  ValidationOptions structure_only;
  structure_only.check_paths = false;
  absl::Status status = ValidateExperiment(*loaded, structure_only);
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr("2 problems"),
                    HasSubstr("data.train.datasets[0].concat[0].png.img_folder"
                              ": is not set"),
                    HasSubstr("mose.pbtxt:")));
}

TEST(MoseTest, ValidatesOnceThePathsExist) {
  const std::string root = TempDir() + "/mose_data";
  std::filesystem::create_directories(root + "/JPEGImages");
  std::filesystem::create_directories(root + "/Annotations");
  const std::string ckpt = WriteTemp("mose_data/init.pt", "x");
  absl::StatusOr<LoadedExperiment> loaded =
      Load("mose", {absl::StrCat("data { train { datasets { concat { png { "
                                 "img_folder: \"",
                                 root, "/JPEGImages\" gt_folder: \"", root,
                                 "/Annotations\" } } } } }"),
                    absl::StrCat("checkpoint { model_weight_initializer { "
                                 "checkpoint_path: \"",
                                 ckpt, "\" } }")});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  // The bundled MOSE file list is found in the project (here: the test's
  // runfiles) although the test does not run in the workspace.
  const std::string& file_list = loaded->experiment.data()
                                     .train()
                                     .datasets(0)
                                     .concat(0)
                                     .png()
                                     .file_list_txt();
  EXPECT_EQ(file_list[0], '/');
  EXPECT_TRUE(std::filesystem::is_regular_file(file_list)) << file_list;
  absl::Status status = ValidateExperiment(*loaded);
  EXPECT_TRUE(status.ok()) << status;
  // Overrides merge into the first dataset instead of replacing it.
  EXPECT_EQ(
      loaded->experiment.data().train().datasets(0).concat(0).transforms_size(),
      8);
}

TEST(MoseTest, MissingCheckpointIsNamed) {
  absl::StatusOr<LoadedExperiment> loaded =
      Load("mose", {"checkpoint { model_weight_initializer { checkpoint_path: "
                    "\"/nonexistent/sam2.pt\" } }"});
  ASSERT_TRUE(loaded.ok());
  absl::Status status = ValidateExperiment(*loaded);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("--set #1:1:41: "
                        "checkpoint.model_weight_initializer.checkpoint_path: "
                        "file /nonexistent/sam2.pt does not exist"));
}

TEST(ParitySmallTest, ParsesAndValidates) {
  absl::StatusOr<LoadedExperiment> loaded = Load("parity_small");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::Status status = ValidateExperiment(*loaded, ModelOnly());
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(loaded->experiment.model().memory_encoder().out_dim(), 32);
}

TEST(SyntaxTest, UnknownFieldNamesFileLineColumn) {
  const std::string path = WriteTemp("unknown.pbtxt",
                                     "model_preset: \"sam2.1_hiera_t\"\n"
                                     "trainer {\n"
                                     "  max_epoch: 3\n"
                                     "}\n");
  absl::StatusOr<LoadedExperiment> loaded = Load(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr(path + ":3:"), HasSubstr("max_epoch")));
}

TEST(SyntaxTest, WrongTypeNamesFileLineColumn) {
  const std::string path =
      WriteTemp("wrong_type.pbtxt", "trainer {\n  max_epochs: \"two\"\n}\n");
  absl::StatusOr<LoadedExperiment> loaded = Load(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr(path + ":2:15: Expected integer"),
                    HasSubstr("  max_epochs: \"two\"\n")));
}

TEST(SyntaxTest, UnparsableValueNamesFileLineColumn) {
  const std::string path =
      WriteTemp("unparsable.pbtxt", "\n\nmodel { image_size: 1.5e }\n");
  absl::StatusOr<LoadedExperiment> loaded = Load(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()), HasSubstr(path + ":3:"));
}

TEST(SyntaxTest, BadOverrideIsNamed) {
  absl::StatusOr<LoadedExperiment> loaded = Load(
      "parity_small", {"trainer { max_epochs: 2 }", "trainer { epochs: 2 }"});
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr("--set #2:1:17"), HasSubstr("epochs"),
                    HasSubstr("the override was: trainer { epochs: 2 }")));
}

TEST(SyntaxTest, UnknownConfigListsAvailable) {
  absl::StatusOr<LoadedExperiment> loaded = Load("mosee");
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr("no config named 'mosee'"), HasSubstr("mose")));
}

TEST(SyntaxTest, UnknownPresetIsNamed) {
  const std::string path =
      WriteTemp("bad_preset.pbtxt", "\nmodel_preset: \"sam2.1_hiera_xl\"\n");
  absl::StatusOr<LoadedExperiment> loaded = Load(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(std::string(loaded.status().message()),
              AllOf(HasSubstr(path + ":2:1"), HasSubstr("sam2.1_hiera_xl")));
}

TEST(ValidationTest, RopeSizeMustFollowImageSize) {
  absl::StatusOr<LoadedExperiment> loaded =
      Load("parity_small", {"model { image_size: 512 }"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::Status status = ValidateExperiment(*loaded, ModelOnly());
  EXPECT_THAT(
      std::string(status.message()),
      AllOf(HasSubstr("parity_small.pbtxt:"),
            HasSubstr("model.memory_attention.layer.self_attention.feat_sizes: "
                      "is [16, 16] but must equal model.image_size / "
                      "model.backbone_stride = 512 / 16"),
            HasSubstr("set feat_sizes: [32, 32]"),
            HasSubstr("cross_attention.feat_sizes")));
}

TEST(ValidationTest, FramesToCorrectAtLeastInitCondFrames) {
  absl::StatusOr<LoadedExperiment> loaded =
      Load("parity_small", {"model {\n num_frames_to_correct_for_train: 1\n}"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::Status status = ValidateExperiment(*loaded, ModelOnly());
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("--set #1:2:2: model.num_frames_to_correct_for_train: "
                        "is 1 but must be >= num_init_cond_frames_for_train "
                        "(2)"));
}

TEST(ValidationTest, BatchSizeMustBePositive) {
  absl::StatusOr<LoadedExperiment> loaded =
      Load("mose", {"data { train { datasets { batch_size: 0 } } }"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ValidationOptions options;
  options.check_paths = false;
  absl::Status status = ValidateExperiment(*loaded, options);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("--set #1:1:27: data.train.datasets[0].batch_size: "
                        "must be > 0, got 0"));
}

TEST(ValidationTest, FvcoreSchedulersAndLayerDecayMinAreChecked) {
  // The optimizer is checked with the training data (mose).
  ValidationOptions options;
  absl::StatusOr<LoadedExperiment> good = Load(
      "mose",
      {"optim { lr { scheduler { exponential { start_value: 1e-4 decay: 0.1 "
       "} } } lr { scheduler { polynomial_decay { base_value: 1e-4 power: 2 "
       "} } } layer_decay { layer_decay_min: 0.1 } }"});
  ASSERT_TRUE(good.ok()) << good.status();
  // Only the unset MOSE folders are reported.
  EXPECT_THAT(std::string(ValidateExperiment(*good, options).message()),
              ::testing::Not(HasSubstr("optim.")));
  absl::StatusOr<LoadedExperiment> bad = Load(
      "mose",
      {"optim { lr { scheduler { step_with_fixed_gamma { base_value: 1 gamma: "
       "0.1 num_updates: 10 } } } layer_decay { layer_decay_min: 2 } }"});
  ASSERT_TRUE(bad.ok()) << bad.status();
  const std::string message(ValidateExperiment(*bad, options).message());
  EXPECT_THAT(message,
              HasSubstr("optim.lr[0].scheduler.step_with_fixed_gamma: needs "
                        "num_decays > 0 and num_updates > 0"));
  EXPECT_THAT(message, HasSubstr("optim.layer_decay.layer_decay_min: must be "
                                 "in [0, 1]"));
}

TEST(ValidationTest, TrainModeNeedsNoValData) {
  // configs/demo.pbtxt has no data.val (its validation is data.val_vos).
  absl::StatusOr<LoadedExperiment> train =
      Load("demo", {"trainer { mode: \"train\" }"});
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_TRUE(ValidateExperiment(*train).ok()) << ValidateExperiment(*train);
  // Mode "val" needs one of the two; configs/parity_small.pbtxt has no data.
  absl::StatusOr<LoadedExperiment> val = Load("parity_small");
  ASSERT_TRUE(val.ok()) << val.status();
  EXPECT_THAT(std::string(ValidateExperiment(*val).message()),
              HasSubstr("data.val: (or data.val_vos) is required for "
                        "trainer.mode \"val\""));
  absl::StatusOr<LoadedExperiment> vos =
      Load("demo", {"trainer { mode: \"val\" }"});
  ASSERT_TRUE(vos.ok()) << vos.status();
  EXPECT_TRUE(ValidateExperiment(*vos).ok()) << ValidateExperiment(*vos);
}

TEST(ValidationTest, ValVosFieldsAreChecked) {
  absl::StatusOr<LoadedExperiment> loaded =
      Load("demo", {"data { val_vos { img_folder: \"/no/such/frames\" "
                    "file_list_txt: \"/no/such/list.txt\" max_videos: -1 "
                    "num_pictures: -2 picture_max_frames: 0 } }"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::string message(ValidateExperiment(*loaded).message());
  EXPECT_THAT(message, HasSubstr("data.val_vos.img_folder: directory "
                                 "/no/such/frames does not exist"));
  EXPECT_THAT(message, HasSubstr("data.val_vos.file_list_txt: file "
                                 "/no/such/list.txt does not exist"));
  EXPECT_THAT(message, HasSubstr("data.val_vos.max_videos: must be >= 0"));
  EXPECT_THAT(message, HasSubstr("data.val_vos.num_pictures: must be >= 0"));
  EXPECT_THAT(message, HasSubstr("data.val_vos.picture_max_frames"));
  // Relative paths of the bundled assets resolve like the datasets'.
  absl::StatusOr<LoadedExperiment> demo = Load("demo");
  ASSERT_TRUE(demo.ok()) << demo.status();
  EXPECT_EQ(demo->experiment.data().val_vos().img_folder().front(), '/');
  EXPECT_EQ(demo->experiment.checkpoint().save_best_meter(),
            "Meters_val/vos/J&F");
}

// The demo trains from scratch: its IoU head must be trained with MSE. With
// the MOSE recipe's L1 the sigmoid IoU head saturates near 0 for every mask
// in the first ~50 steps and stays there, the VOS predictor then picks a bad
// multimask output on every tracked frame and the demo's J&F falls over the
// epochs (3 after 20 epochs; ~16 with MSE). See the comment in demo.pbtxt.
TEST(ValidationTest, DemoTrainsItsIouHeadWithMse) {
  absl::StatusOr<LoadedExperiment> demo = Load("demo");
  ASSERT_TRUE(demo.ok()) << demo.status();
  EXPECT_TRUE(demo->experiment.model().iou_prediction_use_sigmoid());
  EXPECT_FALSE(demo->experiment.loss().iou_use_l1_loss());
  // The fine-tuning recipe keeps the reference's L1.
  absl::StatusOr<LoadedExperiment> mose = Load("mose");
  ASSERT_TRUE(mose.ok()) << mose.status();
  EXPECT_TRUE(mose->experiment.loss().iou_use_l1_loss());
}

TEST(ValidationTest, ChannelListMustMatchTrunk) {
  absl::StatusOr<LoadedExperiment> loaded = Load(
      "parity_small",
      {"model { image_encoder { neck { backbone_channel_list: [64, 32] } } }"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::Status status = ValidateExperiment(*loaded, ModelOnly());
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("model.image_encoder.neck.backbone_channel_list: is "
                        "[64, 32] but the trunk"));
}

TEST(ValidationTest, TransformOrderIsChecked) {
  // Messages in lists merge by index: transforms[5] (color_jitter) becomes a
  // to_tensor, so the MOSE chain then jitters and normalises out of order.
  absl::StatusOr<LoadedExperiment> loaded =
      Load("mose", {"data { train { datasets { concat { transforms {} "
                    "transforms {} transforms {} transforms { to_tensor {} } "
                    "} } } }"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ValidationOptions options;
  options.check_paths = false;
  absl::Status status = ValidateExperiment(*loaded, options);
  const std::string chain = "data.train.datasets[0].concat[0].transforms";
  EXPECT_THAT(
      std::string(status.message()),
      AllOf(HasSubstr(chain + "[4]: must come before transforms[3].to_tensor "
                              "(it works on 8-bit frames)"),
            HasSubstr(chain + "[5]: must come before transforms[3].to_tensor"),
            HasSubstr(chain + "[6].to_tensor: repeats "
                              "transforms[3].to_tensor: keep one"),
            Not(HasSubstr(chain + "[7]"))))
      << status;

  absl::StatusOr<LoadedExperiment> no_tensor = Load(
      "mose", {"data { train { datasets { concat { transforms {} transforms "
               "{} transforms {} transforms {} transforms {} transforms {} "
               "transforms { random_grayscale {} } } } } }"});
  ASSERT_TRUE(no_tensor.ok()) << no_tensor.status();
  EXPECT_THAT(
      std::string(ValidateExperiment(*no_tensor, options).message()),
      HasSubstr(chain +
                "[7].normalize: needs a to_tensor transform before it"));
}

TEST(ValidationTest, NearestImageInterpolationIsRejected) {
  // The reference's RandomAffine implements bicubic and bilinear only.
  absl::StatusOr<LoadedExperiment> loaded =
      Load("mose", {"data { train { datasets { concat { transforms {}\n"
                    "transforms { random_affine { image_interpolation: "
                    "'nearest' } } } } } }"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ValidationOptions options;
  options.check_paths = false;
  absl::Status status = ValidateExperiment(*loaded, options);
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr("--set #1:2:"),
                    HasSubstr("data.train.datasets[0].concat[0].transforms[1]."
                              "random_affine.image_interpolation: is "
                              "\"nearest\"; allowed: bicubic, bilinear"),
                    HasSubstr("implements bicubic and bilinear only")))
      << status;
}

TEST(ValidationTest, UnknownChoicesListTheAllowedValues) {
  absl::StatusOr<LoadedExperiment> loaded = Load(
      "parity_small",
      {"trainer { mode: 'training' accelerator: 'tpu' }",
       "model { memory_attention { layer { activation: 'tanh' } } "
       "image_encoder { neck { fpn_interp_model: 'area' fuse_type: 'max' } } "
       "pt_sampling_for_eval: 'centre' }",
       "optim { amp_dtype: 'fp8' } distributed { backend: 'ucc' "
       "comms_dtype: 'int8' timeout_mins: -1 }"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::string message(ValidateExperiment(*loaded, ModelOnly()).message());
  EXPECT_THAT(
      message,
      AllOf(HasSubstr("--set #1:1:11: trainer.mode: is \"training\"; "
                      "allowed: train, train_only, val"),
            HasSubstr("trainer.accelerator: is \"tpu\"; allowed: cuda, cpu"),
            HasSubstr("model.memory_attention.layer.activation: is "
                      "\"tanh\"; allowed: relu, gelu, glu"),
            HasSubstr("model.image_encoder.neck.fpn_interp_model: is "
                      "\"area\"; allowed: nearest, nearest-exact, bilinear, "
                      "bicubic"),
            HasSubstr("model.image_encoder.neck.fuse_type: is \"max\"; "
                      "allowed: sum, avg"),
            HasSubstr("model.pt_sampling_for_eval: is \"centre\"; allowed: "
                      "center, uniform"),
            HasSubstr("distributed.backend: is \"ucc\"; allowed: nccl, mpi, "
                      "gloo"),
            HasSubstr("distributed.comms_dtype: is \"int8\"; allowed: "
                      "bfloat16, float16"),
            HasSubstr("distributed.timeout_mins: must be >= 0")))
      << message;
}

TEST(ValidationTest, MissingDataPathsAreNamed) {
  const std::string path =
      WriteTemp("data_missing.pbtxt",
                "model_preset: \"sam2.1_hiera_t\"\n"
                "data { train { datasets { concat {\n"
                "  png { img_folder: \"/nonexistent/img\" gt_folder: "
                "\"/nonexistent/gt\" }\n"
                "  random_uniform_sampler { num_frames: 8 }\n"
                "} } } }\n"
                "optim { lr { scheduler { constant { value: 1e-4 } } } }\n");
  absl::StatusOr<LoadedExperiment> loaded = Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  absl::Status status = ValidateExperiment(*loaded);
  EXPECT_THAT(std::string(status.message()),
              AllOf(HasSubstr(path + ":3:9: data.train.datasets[0].concat[0]"
                                     ".png.img_folder: directory "
                                     "/nonexistent/img does not exist"),
                    HasSubstr("gt_folder: directory /nonexistent/gt")));
}

TEST(MergeTest, RepeatedScalarsAreReplacedMessagesMergedByIndex) {
  Experiment base;
  ASSERT_TRUE(ParseTextInto("model { image_encoder { trunk { stages: [1, 2, 3, "
                            "4] embed_dim: 8 } } }"
                            "optim { lr { param_names: \"a\" } lr { "
                            "param_names: \"b\" } }",
                            "base", &base)
                  .ok());
  Experiment overlay;
  ASSERT_TRUE(ParseTextInto("model { image_encoder { trunk { stages: [5, 6] } "
                            "} } optim { lr { scheduler { constant { value: 1 "
                            "} } } }",
                            "overlay", &overlay)
                  .ok());
  OverlayMerge(overlay, &base);
  const HieraConfig& trunk = base.model().image_encoder().trunk();
  ASSERT_EQ(trunk.stages_size(), 2);
  EXPECT_EQ(trunk.stages(0), 5);
  EXPECT_EQ(trunk.embed_dim(), 8);
  ASSERT_EQ(base.optim().lr_size(), 2);
  EXPECT_EQ(base.optim().lr(0).param_names(0), "a");
  EXPECT_TRUE(base.optim().lr(0).scheduler().has_constant());
  EXPECT_FALSE(base.optim().lr(1).has_scheduler());
}

TEST(MergeTest, OverrideSelectsAnotherPreset) {
  absl::StatusOr<LoadedExperiment> loaded =
      Load("mose", {"model_preset: \"sam2.1_hiera_l\""});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->experiment.model().image_encoder().trunk().embed_dim(),
            144);
  // The experiment's own model fields still apply on top of the new preset.
  EXPECT_FLOAT_EQ(
      loaded->experiment.model().image_encoder().trunk().drop_path_rate(),
      0.1f);
}

TEST(PrintTest, ResolvedConfigRoundTrips) {
  absl::StatusOr<LoadedExperiment> loaded = Load("mose");
  ASSERT_TRUE(loaded.ok());
  const std::string text = ToText(loaded->experiment);
  // Defaults are written out, so a saved config says exactly what ran.
  EXPECT_THAT(text, HasSubstr("max_cond_frames_in_attn: -1"));
  EXPECT_THAT(text, HasSubstr("sam2_logs/mose/checkpoints"));
  Experiment reparsed;
  ASSERT_TRUE(ParseTextInto(text, "printed", &reparsed).ok());
  EXPECT_EQ(reparsed.SerializeAsString(),
            loaded->experiment.SerializeAsString());
}

TEST(FlagsTest, ExtractRepeatedFlag) {
  std::vector<std::string> storage = {"prog",        "--config=mose",
                                      "--set=a { }", "--set",
                                      "b { }",       "--print_config"};
  std::vector<char*> argv;
  for (std::string& s : storage) argv.push_back(s.data());
  int argc = static_cast<int>(argv.size());
  std::vector<std::string> sets =
      ExtractRepeatedFlag("set", &argc, argv.data());
  EXPECT_THAT(sets, ::testing::ElementsAre("a { }", "b { }"));
  ASSERT_EQ(argc, 3);
  EXPECT_STREQ(argv[1], "--config=mose");
  EXPECT_STREQ(argv[2], "--print_config");
}

}  // namespace
}  // namespace sam2::config
