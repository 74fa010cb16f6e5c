#include "sam2/training/validation/vos_validator.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "base/testing/temp_dir.h"
#include "data/codecs/file_io.h"
#include "data/codecs/png.h"
#include "data/synthetic/synthetic_vos.h"
#include "eval/benchmark.h"
#include "sam2/checkpoint/state_dict.h"
#include "sam2/inference/video_predictor.h"
#include "sam2/inference/vos_inference.h"
#include "sam2/training/model/sam2_train.h"
#include "sam2/training/test_models.h"

namespace sam2::training {
namespace {

using ::sam2::testutil::FreshTempDir;
using ::testing::HasSubstr;
using ::sam2::testutil::ReadFileOrFail;

// N ranks as threads of one process: every collective meets all ranks, sums
// in rank order.
class ThreadHub {
 public:
  explicit ThreadHub(int n) : n_(n), slots_(n) {}
  int size() const { return n_; }

  void Wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const int64_t generation = generation_;
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation != generation_; });
    }
  }

  void AllReduceSum(int rank, std::vector<at::Tensor>& tensors) {
    slots_[rank] = &tensors;
    Wait();
    if (rank == 0) {
      sums_.clear();
      for (size_t j = 0; j < tensors.size(); ++j) {
        at::Tensor sum = (*slots_[0])[j].clone();
        for (int r = 1; r < n_; ++r) sum.add_((*slots_[r])[j]);
        sums_.push_back(sum);
      }
    }
    Wait();
    for (size_t j = 0; j < tensors.size(); ++j) tensors[j].copy_(sums_[j]);
    Wait();
  }

 private:
  const int n_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int arrived_ = 0;
  int64_t generation_ = 0;
  std::vector<std::vector<at::Tensor>*> slots_;
  std::vector<at::Tensor> sums_;
};

class ThreadRank final : public distributed::Collectives {
 public:
  ThreadRank(ThreadHub& hub, int rank) : hub_(hub), rank_(rank) {}
  int rank() const override { return rank_; }
  int world_size() const override { return hub_.size(); }
  int local_rank() const override { return rank_; }
  void AllReduceSum(std::vector<at::Tensor>& tensors) override {
    hub_.AllReduceSum(rank_, tensors);
  }
  void Broadcast(at::Tensor&, int) override { std::abort(); }  // unused
  void Barrier() override { hub_.Wait(); }
  [[noreturn]] void Abort(int) override { std::abort(); }

 private:
  ThreadHub& hub_;
  int rank_;
};

// A synthetic DAVIS dataset (4 videos), the demo's model with its initial
// weights as the "training" model, and the paths a validator needs.
class VosValidatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    at::set_num_threads(1);
    root_ = new std::string(FreshTempDir("vos_validator_data"));
    data::SyntheticVosOptions synth;
    synth.output_dir = *root_;
    synth.num_videos = 4;
    synth.num_frames = 6;
    synth.height = 64;
    synth.width = 80;
    synth.seed = 11;
    synth.per_object_png = false;
    synth.sa1b = synth.sav = false;
    ASSERT_TRUE(data::WriteSyntheticVos(synth).ok());
  }
  static void TearDownTestSuite() { delete root_; }

  void SetUp() override {
    absl::StatusOr<SAM2TrainOptions> options = ModelOptionsForExperiment("demo");
    ASSERT_TRUE(options.ok()) << options.status();
    options_ = *options;
    at::manual_seed(3);
    model_ = SAM2Train(options_);
    model_->eval();
  }

  VosValidationOptions ValOptions() const {
    VosValidationOptions o;
    o.img_folder = *root_ + "/davis/JPEGImages";
    o.gt_folder = *root_ + "/davis/Annotations";
    o.pictures_dir = "";
    return o;
  }

  std::unique_ptr<VosValidator> MakeValidator(
      const VosValidationOptions& o, distributed::Collectives& world,
      RunLog& log, tensorboard::EventWriter* images = nullptr) {
    absl::StatusOr<std::unique_ptr<VosValidator>> v =
        VosValidator::Create(o, options_.base, *model_, world, log, images);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *std::move(v) : nullptr;
  }

  static std::string* root_;
  SAM2TrainOptions options_;
  SAM2Train model_{nullptr};
};
std::string* VosValidatorTest::root_ = nullptr;

std::unique_ptr<RunLog> OpenLog(const std::string& name, int rank = 0) {
  return *RunLog::Open(FreshTempDir(name), rank);
}

// The validator's numbers are those of //jobs:vos_inference writing PNGs
// and //jobs:sav_eval scoring them (the same libraries).
TEST_F(VosValidatorTest, JAndFEqualVosInferencePngsScoredByEval) {
  distributed::SingleProcessCollectives world;
  auto log = OpenLog("vos_validator_log");
  std::unique_ptr<VosValidator> validator =
      MakeValidator(ValOptions(), world, *log);
  ASSERT_NE(validator, nullptr);
  ASSERT_EQ(validator->videos().size(), 4u);
  absl::StatusOr<std::map<std::string, double>> meters = validator->Validate(0);
  ASSERT_TRUE(meters.ok()) << meters.status();

  // The same weights through the PNG path.
  modeling::SAM2Base base(options_.base);
  ASSERT_TRUE(checkpoint::LoadStateDictIntoModel(
                  *base, checkpoint::ModelStateDict(*model_), {}, "model")
                  .ok());
  inference::VideoPredictorOptions predictor_options;
  predictor_options.non_overlap_masks = true;
  inference::VideoPredictor predictor(base, predictor_options);
  const std::string pred_root = FreshTempDir("vos_validator_pred");
  inference::VosInferenceOptions run;
  run.base_video_dir = ValOptions().img_folder;
  run.input_mask_dir = ValOptions().gt_folder;
  run.output_mask_dir = pred_root;
  for (const std::string& video : validator->videos()) {
    ASSERT_TRUE(inference::RunVosInferenceOnVideo(
                    predictor, run, video, options_.base.image_size)
                    .ok());
  }
  eval::BenchmarkOptions scorer;
  scorer.gt_root = ValOptions().gt_folder;
  scorer.pred_root = pred_root;
  scorer.verbose = false;
  scorer.print_time = false;
  scorer.num_threads = 1;
  std::ostringstream out;
  absl::StatusOr<eval::BenchmarkResult> reference =
      eval::RunBenchmark(scorer, out);
  ASSERT_TRUE(reference.ok()) << reference.status();
  ASSERT_EQ(reference->videos.size(), 4u);

  EXPECT_EQ(meters->at(kValJ), reference->global.j);
  EXPECT_EQ(meters->at(kValF), reference->global.f);
  EXPECT_EQ(meters->at(kValJF), reference->global.jf);
  // Per object too; and the scores are not degenerate.
  const std::vector<eval::VideoResult>& mine = validator->last_results();
  ASSERT_EQ(mine.size(), reference->videos.size());
  for (size_t i = 0; i < mine.size(); ++i) {
    EXPECT_EQ(mine[i].name, reference->videos[i].name);
    ASSERT_EQ(mine[i].objects.size(), reference->videos[i].objects.size());
    for (size_t k = 0; k < mine[i].objects.size(); ++k) {
      EXPECT_EQ(mine[i].objects[k].name, reference->videos[i].objects[k].name);
      EXPECT_EQ(mine[i].objects[k].j, reference->videos[i].objects[k].j);
      EXPECT_EQ(mine[i].objects[k].f, reference->videos[i].objects[k].f);
    }
  }
  EXPECT_GT(meters->at(kValJF), 0.0);
  EXPECT_LT(meters->at(kValJF), 100.0);
  EXPECT_THAT(ReadFileOrFail(log->log_dir() + "/log.txt"),
              HasSubstr("VOS validation after epoch 0: J&F "));

  // The validator takes the training model's weights at every validation.
  {
    c10::NoGradGuard no_grad;
    for (at::Tensor& p : model_->parameters()) p.mul_(0.5);
  }
  ASSERT_TRUE(validator->Validate(1).ok());
  const checkpoint::TensorDict trained = checkpoint::ModelStateDict(*model_);
  const checkpoint::TensorDict used =
      checkpoint::ModelStateDict(*validator->predictor_model());
  ASSERT_EQ(trained.size(), used.size());
  for (size_t i = 0; i < trained.size(); ++i) {
    EXPECT_EQ(trained[i].first, used[i].first);
    EXPECT_TRUE(at::equal(trained[i].second, used[i].second))
        << trained[i].first;
  }
}

// 1, 2 and 3 ranks give the same numbers, bit for bit; every video runs on
// exactly one rank.
TEST_F(VosValidatorTest, RankSplitGivesTheSameNumbers) {
  distributed::SingleProcessCollectives single;
  auto log = OpenLog("vos_validator_split_log");
  std::unique_ptr<VosValidator> one = MakeValidator(ValOptions(), single, *log);
  ASSERT_NE(one, nullptr);
  absl::StatusOr<std::map<std::string, double>> expected = one->Validate(0);
  ASSERT_TRUE(expected.ok()) << expected.status();
  for (int ranks : {2, 3}) {
    ThreadHub hub(ranks);
    std::vector<std::unique_ptr<ThreadRank>> worlds;
    std::vector<std::unique_ptr<RunLog>> logs;
    std::vector<std::unique_ptr<VosValidator>> validators;
    for (int r = 0; r < ranks; ++r) {
      worlds.push_back(std::make_unique<ThreadRank>(hub, r));
      logs.push_back(OpenLog(absl::StrCat("vos_split_", ranks, "_", r), r));
      validators.push_back(MakeValidator(ValOptions(), *worlds[r], *logs[r]));
      ASSERT_NE(validators.back(), nullptr);
    }
    std::multiset<size_t> covered;
    for (const auto& v : validators) {
      covered.insert(v->my_videos().begin(), v->my_videos().end());
      EXPECT_FALSE(v->my_videos().empty()) << ranks << " ranks";
    }
    EXPECT_EQ(covered, (std::multiset<size_t>{0, 1, 2, 3}));
    std::vector<absl::StatusOr<std::map<std::string, double>>> results(
        ranks, absl::UnknownError("not run"));
    std::vector<std::thread> threads;
    for (int r = 0; r < ranks; ++r) {
      threads.emplace_back(
          [&, r] { results[r] = validators[r]->Validate(0); });
    }
    for (std::thread& t : threads) t.join();
    for (int r = 0; r < ranks; ++r) {
      ASSERT_TRUE(results[r].ok()) << results[r].status();
      EXPECT_EQ(*results[r], *expected) << ranks << " ranks, rank " << r;
    }
  }
}

TEST_F(VosValidatorTest, MaxVideosTakesTheFirstOfTheList) {
  distributed::SingleProcessCollectives world;
  auto log = OpenLog("vos_validator_max_log");
  const std::string list = FreshTempDir("vos_list") + "/val.txt";
  ASSERT_TRUE(
      data::WriteStringToFile(list, "synth_0003\n\nsynth_0001\nsynth_0002\n")
          .ok());
  VosValidationOptions o = ValOptions();
  o.file_list_txt = list;
  o.max_videos = 2;
  std::unique_ptr<VosValidator> validator = MakeValidator(o, world, *log);
  ASSERT_NE(validator, nullptr);
  EXPECT_EQ(validator->videos(),
            (std::vector<std::string>{"synth_0003", "synth_0001"}));
  absl::StatusOr<std::map<std::string, double>> meters = validator->Validate(0);
  ASSERT_TRUE(meters.ok()) << meters.status();
  ASSERT_EQ(validator->last_results().size(), 2u);
  EXPECT_EQ(validator->last_results()[0].name, "synth_0001");  // by name
}

TEST_F(VosValidatorTest, AMissingVideoIsAnErrorNamingIt) {
  distributed::SingleProcessCollectives world;
  auto log = OpenLog("vos_validator_missing_log");
  const std::string list = FreshTempDir("vos_list_bad") + "/val.txt";
  ASSERT_TRUE(data::WriteStringToFile(list, "synth_0001\nno_such_video\n").ok());
  VosValidationOptions o = ValOptions();
  o.file_list_txt = list;
  absl::StatusOr<std::unique_ptr<VosValidator>> v =
      VosValidator::Create(o, options_.base, *model_, world, *log, nullptr);
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("no_such_video"));
}

// The strips: a PNG per picture video under pictures_dir/epoch_<E>/, the
// prediction over the top row and the ground truth over the bottom row, and
// the same PNG as a TensorBoard image.
TEST_F(VosValidatorTest, PicturesAreWrittenAndLoggedToTensorBoard) {
  distributed::SingleProcessCollectives world;
  auto log = OpenLog("vos_validator_pictures_log");
  const std::string tb_dir = FreshTempDir("vos_validator_tb");
  std::string event_path;
  VosValidationOptions o = ValOptions();
  o.pictures_dir = FreshTempDir("vos_validator_pictures");
  o.num_pictures = 1;
  o.picture_max_frames = 3;
  {
    auto writer = tensorboard::EventWriter::Create(tb_dir);
    ASSERT_TRUE(writer.ok());
    event_path = (*writer)->path();
    std::unique_ptr<VosValidator> validator =
        MakeValidator(o, world, *log, writer->get());
    ASSERT_NE(validator, nullptr);
    ASSERT_TRUE(validator->Validate(3).ok());
  }
  namespace fs = std::filesystem;
  const std::string strip_path = o.pictures_dir + "/epoch_3/synth_0001.png";
  ASSERT_TRUE(fs::exists(strip_path));
  EXPECT_FALSE(fs::exists(o.pictures_dir + "/epoch_3/synth_0002.png"));
  absl::StatusOr<data::Image> strip = data::ReadPngFile(strip_path);
  ASSERT_TRUE(strip.ok()) << strip.status();
  EXPECT_EQ(strip->channels, 3);
  EXPECT_EQ(strip->height, 2 * 64 + 2);
  EXPECT_EQ(strip->width, 3 * 80 + 2 * 2);

  std::vector<tensorboard::ImageEvent> images;
  auto scalars = tensorboard::ReadScalarEvents(event_path, nullptr, &images);
  ASSERT_TRUE(scalars.ok()) << scalars.status();
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].tag, "val_pictures/synth_0001");
  EXPECT_EQ(images[0].step, 3);
  EXPECT_EQ(images[0].height, strip->height);
  EXPECT_EQ(images[0].width, strip->width);
  EXPECT_EQ(images[0].colorspace, 3);
  EXPECT_EQ(images[0].encoded, *data::ReadFileToString(strip_path));
}

TEST(PictureFramesTest, EvenlySpacedWithFirstAndLast) {
  EXPECT_EQ(PictureFrames(10, 4), (std::vector<int64_t>{0, 3, 6, 9}));
  EXPECT_EQ(PictureFrames(3, 8), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(PictureFrames(5, 1), (std::vector<int64_t>{0}));
  EXPECT_TRUE(PictureFrames(0, 4).empty());
}

TEST(OverlayStripTest, PredictionOnTopGroundTruthBelow) {
  data::Image frame(2, 2, 3);
  std::fill(frame.data.begin(), frame.data.end(), 100);
  eval::LabelMap pred{2, 2, {1, 0, 0, 0}};
  eval::LabelMap gt{2, 2, {0, 0, 0, 2}};
  absl::StatusOr<data::Image> strip =
      OverlayStrip({frame, frame}, {&pred, &pred}, {&gt, &gt});
  ASSERT_TRUE(strip.ok()) << strip.status();
  ASSERT_EQ(strip->height, 2 * 2 + 2);
  ASSERT_EQ(strip->width, 2 * 2 + 2);
  auto pixel = [&](int y, int x) {
    const uint8_t* p = &strip->data[(y * strip->width + x) * 3];
    return std::vector<int>{p[0], p[1], p[2]};
  };
  const data::PngPalette palette = data::DavisPalette();
  // Object 1 blended half and half at (0, 0) of the top row.
  EXPECT_EQ(pixel(0, 0), (std::vector<int>{(100 + palette[1][0] + 1) / 2,
                                           (100 + palette[1][1] + 1) / 2,
                                           (100 + palette[1][2] + 1) / 2}));
  EXPECT_EQ(pixel(0, 1), (std::vector<int>{100, 100, 100}));
  EXPECT_EQ(pixel(2, 0), (std::vector<int>{255, 255, 255}));  // the gap
  // Object 2 at (1, 1) of the bottom row, second frame.
  EXPECT_EQ(pixel(5, 5), (std::vector<int>{(100 + palette[2][0] + 1) / 2,
                                           (100 + palette[2][1] + 1) / 2,
                                           (100 + palette[2][2] + 1) / 2}));
  EXPECT_EQ(pixel(4, 4), (std::vector<int>{100, 100, 100}));
}

}  // namespace
}  // namespace sam2::training
