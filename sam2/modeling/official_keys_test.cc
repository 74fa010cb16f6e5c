// The image encoder, prompt encoder and mask decoder of the four official
// SAM 2.1 sizes have exactly the reference's state_dict keys and shapes
// (testdata/sam2.1_hiera_*.keys.txt: "key<TAB>[shape]<TAB>dtype" lines listed
// from the reference models), with parameters in the reference's order.
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "sam2/modeling/backbones/image_encoder.h"
#include "sam2/modeling/sam/mask_decoder.h"
#include "sam2/modeling/sam/prompt_encoder.h"

namespace sam2::modeling {
namespace {

struct KeyEntry {
  std::string name;
  std::vector<int64_t> shape;
};

// The entries of `path` whose key starts with `prefix` (prefix stripped), in
// file order.
std::vector<KeyEntry> ReadKeys(const std::string& path,
                               const std::string& prefix) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::vector<KeyEntry> entries;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key, shape, dtype;
    std::getline(fields, key, '\t');
    std::getline(fields, shape, '\t');
    if (key.compare(0, prefix.size(), prefix) != 0) continue;
    KeyEntry entry{key.substr(prefix.size()), {}};
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

// Compares a module's parameters + buffers with the reference entries: same
// key set, same shapes, parameters in the same relative order.
void ExpectSameKeys(const torch::nn::Module& module,
                    const std::vector<KeyEntry>& reference,
                    const std::string& what) {
  std::map<std::string, std::vector<int64_t>> ours;
  std::vector<std::string> our_param_order;
  for (const auto& item : module.named_parameters()) {
    ours[item.key()] = item.value().sizes().vec();
    our_param_order.push_back(item.key());
  }
  for (const auto& item : module.named_buffers()) {
    ours[item.key()] = item.value().sizes().vec();
  }
  std::map<std::string, std::vector<int64_t>> theirs;
  std::vector<std::string> their_param_order;
  for (const auto& entry : reference) {
    theirs[entry.name] = entry.shape;
    if (module.named_parameters().contains(entry.name)) {
      their_param_order.push_back(entry.name);
    }
  }
  ASSERT_FALSE(theirs.empty()) << what;
  for (const auto& [name, shape] : theirs) {
    auto it = ours.find(name);
    if (it == ours.end()) {
      ADD_FAILURE() << what << ": missing " << name;
    } else {
      EXPECT_EQ(it->second, shape) << what << ": " << name;
    }
  }
  for (const auto& [name, shape] : ours) {
    EXPECT_TRUE(theirs.count(name)) << what << ": unexpected " << name;
  }
  EXPECT_EQ(our_param_order, their_param_order) << what;
}

struct OfficialSize {
  std::string name;
  HieraOptions trunk;
  std::vector<int64_t> channels;
};

std::vector<OfficialSize> OfficialSizes() {
  std::vector<OfficialSize> sizes(4);
  sizes[0].name = "t";
  sizes[0].trunk.embed_dim = 96;
  sizes[0].trunk.num_heads = 1;
  sizes[0].trunk.stages = {1, 2, 7, 2};
  sizes[0].trunk.global_att_blocks = {5, 7, 9};
  sizes[0].trunk.window_pos_embed_bkg_spatial_size = {7, 7};
  sizes[0].channels = {768, 384, 192, 96};

  sizes[1].name = "s";
  sizes[1].trunk.embed_dim = 96;
  sizes[1].trunk.num_heads = 1;
  sizes[1].trunk.stages = {1, 2, 11, 2};
  sizes[1].trunk.global_att_blocks = {7, 10, 13};
  sizes[1].trunk.window_pos_embed_bkg_spatial_size = {7, 7};
  sizes[1].channels = {768, 384, 192, 96};

  sizes[2].name = "b+";  // Hiera defaults otherwise
  sizes[2].trunk.embed_dim = 112;
  sizes[2].trunk.num_heads = 2;
  sizes[2].channels = {896, 448, 224, 112};

  sizes[3].name = "l";
  sizes[3].trunk.embed_dim = 144;
  sizes[3].trunk.num_heads = 2;
  sizes[3].trunk.stages = {2, 6, 36, 4};
  sizes[3].trunk.global_att_blocks = {23, 33, 43};
  sizes[3].trunk.window_pos_embed_bkg_spatial_size = {7, 7};
  sizes[3].trunk.window_spec = {8, 4, 16, 8};
  sizes[3].channels = {1152, 576, 288, 144};
  return sizes;
}

class OfficialKeys : public ::testing::TestWithParam<OfficialSize> {
 protected:
  std::string KeysFile() const {
    return "sam2/modeling/testdata/sam2.1_hiera_" + GetParam().name +
           ".keys.txt";
  }
};

TEST_P(OfficialKeys, ImageEncoder) {
  ImageEncoderOptions options;
  options.scalp = 1;
  options.trunk = GetParam().trunk;
  options.neck.position_encoding = PositionEmbeddingSineOptions(256);
  options.neck.d_model = 256;
  options.neck.backbone_channel_list = GetParam().channels;
  options.neck.fpn_top_down_levels = std::vector<int64_t>{2, 3};
  options.neck.fpn_interp_model = "nearest";
  ImageEncoder encoder(options);
  ExpectSameKeys(*encoder, ReadKeys(KeysFile(), "image_encoder."),
                 GetParam().name + " image_encoder");
}

TEST_P(OfficialKeys, PromptEncoderAndMaskDecoder) {
  // SAM2Base with image_size 1024, hidden dim 256, backbone stride 16.
  PromptEncoderOptions prompt;
  prompt.embed_dim = 256;
  prompt.image_embedding_size = {64, 64};
  prompt.input_image_size = {1024, 1024};
  prompt.mask_in_chans = 16;
  PromptEncoder prompt_encoder(prompt);
  ExpectSameKeys(*prompt_encoder, ReadKeys(KeysFile(), "sam_prompt_encoder."),
                 GetParam().name + " sam_prompt_encoder");

  MaskDecoderOptions decoder;
  decoder.transformer_dim = 256;
  decoder.use_high_res_features = true;
  decoder.iou_prediction_use_sigmoid = true;
  decoder.pred_obj_scores = true;
  decoder.pred_obj_scores_mlp = true;
  decoder.use_multimask_token_for_obj_ptr = true;
  MaskDecoder mask_decoder(decoder);
  ExpectSameKeys(*mask_decoder, ReadKeys(KeysFile(), "sam_mask_decoder."),
                 GetParam().name + " sam_mask_decoder");
}

INSTANTIATE_TEST_SUITE_P(Sizes, OfficialKeys,
                         ::testing::ValuesIn(OfficialSizes()),
                         [](const auto& info) {
                           return info.param.name == "b+"
                                      ? std::string("b_plus")
                                      : info.param.name;
                         });

}  // namespace
}  // namespace sam2::modeling
