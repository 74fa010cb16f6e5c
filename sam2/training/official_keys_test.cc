// The whole SAM2Base / SAM2Train of each official SAM 2.1 size, built from
// configs/models/sam2.1_hiera_*.pbtxt through the configs loader as a run
// builds it, has exactly the official checkpoint's state_dict: same keys,
// same shapes, parameters in the official order
// (sam2/modeling/testdata/sam2.1_hiera_*.keys.txt, listed from the reference
// models).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "sam2/modeling/sam2_base.h"
#include "sam2/training/model/sam2_train.h"
#include "sam2/training/test_models.h"

namespace sam2::training {
namespace {

struct KeyEntry {
  std::string name;
  std::vector<int64_t> shape;
};

std::vector<KeyEntry> ReadKeys(const std::string& size) {
  const std::string path =
      std::string(std::getenv("TEST_SRCDIR")) +
      "/sam2_train_cpp/sam2/modeling/testdata/sam2.1_hiera_" + size +
      ".keys.txt";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::vector<KeyEntry> entries;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    KeyEntry entry;
    std::string shape;
    std::getline(fields, entry.name, '\t');
    std::getline(fields, shape, '\t');
    for (char& c : shape) {
      if (c == '[' || c == ']' || c == ',') c = ' ';
    }
    std::istringstream dims(shape);
    int64_t d;
    while (dims >> d) entry.shape.push_back(d);
    entries.push_back(std::move(entry));
  }
  return entries;
}

void ExpectOfficialStateDict(const torch::nn::Module& model,
                             const std::string& size) {
  const std::vector<KeyEntry> reference = ReadKeys(size);
  ASSERT_GT(reference.size(), 400u);
  std::map<std::string, std::vector<int64_t>> ours;
  std::vector<std::string> our_param_order;
  const auto params = model.named_parameters();
  for (const auto& item : params) {
    ours[item.key()] = item.value().sizes().vec();
    our_param_order.push_back(item.key());
  }
  for (const auto& item : model.named_buffers()) {
    ours[item.key()] = item.value().sizes().vec();
  }
  std::vector<std::string> reference_param_order;
  std::map<std::string, std::vector<int64_t>> theirs;
  for (const KeyEntry& entry : reference) {
    theirs[entry.name] = entry.shape;
    if (params.contains(entry.name))
      reference_param_order.push_back(entry.name);
  }
  for (const auto& [name, shape] : theirs) {
    auto it = ours.find(name);
    if (it == ours.end()) {
      ADD_FAILURE() << size << ": missing " << name;
    } else {
      EXPECT_EQ(it->second, shape) << size << ": " << name;
    }
  }
  for (const auto& [name, shape] : ours) {
    EXPECT_TRUE(theirs.count(name)) << size << ": unexpected " << name;
  }
  EXPECT_EQ(our_param_order, reference_param_order) << size;
}

std::string Preset(const std::string& size) { return "sam2.1_hiera_" + size; }

class OfficialModelTest : public testing::TestWithParam<std::string> {};

TEST_P(OfficialModelTest, StateDictMatchesOfficialCheckpoint) {
  auto options = ModelOptionsForPreset(Preset(GetParam()));
  ASSERT_TRUE(options.ok()) << options.status();
  modeling::SAM2Base model(options->base);
  ExpectOfficialStateDict(*model, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Sizes, OfficialModelTest,
                         testing::Values("t", "s", "b+", "l"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param == "b+" ? std::string("b_plus")
                                                     : info.param;
                         });

TEST(OfficialPresetTest, MoseTrainingModelHasTheSameStateDict) {
  // configs/mose.pbtxt's training knobs on the tiny size.
  auto options =
      ModelOptionsForExperiment("mose", {"model_preset: \"sam2.1_hiera_t\""});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->prob_to_use_pt_input_for_train, 0.5f);
  EXPECT_FLOAT_EQ(options->base.image_encoder.trunk.drop_path_rate, 0.1);
  EXPECT_EQ(options->base.image_encoder.trunk.embed_dim, 96);
  SAM2Train model(*options);
  ExpectOfficialStateDict(*model, "t");
}

TEST(OfficialPresetTest, UnknownPresetIsAnError) {
  const auto options = ModelOptionsForPreset("sam2.1_hiera_xl");
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(options.status().message().find("sam2.1_hiera_xl"),
            std::string::npos)
      << options.status();
}

TEST(OfficialPresetTest, RoPEGridFollowsTheResolution) {
  auto options = ModelOptionsForPreset("sam2.1_hiera_t", 512);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->base.image_size, 512);
  const auto& layer = options->base.memory_attention.layer;
  EXPECT_EQ(layer.cross_attention.rope.feat_sizes[0], 32);
  EXPECT_EQ(layer.cross_attention.rope.feat_sizes[1], 32);
  EXPECT_EQ(layer.self_attention.rope.feat_sizes[0], 32);
}

}  // namespace
}  // namespace sam2::training
