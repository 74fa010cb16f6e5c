// The defaults of the schema's list fields (configs/experiment.proto), in one
// place. Protobuf cannot give repeated fields defaults, so ResolveDefaults()
// (configs/loader.h) writes these into empty lists of a loaded experiment;
// scalar defaults stay in the proto's [default = ...] annotations.
//
// They are the reference's constructor defaults (Hiera, RoPEAttention,
// NormalizeAPI, RandomAffine, load_state_dict_into_model). The network and
// data option structs keep the same constructor defaults, like the
// reference's classes, so that they can be built without a config; the test
// //sam2/training:config_defaults_test checks that every value here equals
// the default-constructed option struct, so the two cannot drift apart.
#ifndef SAM2_CONFIGS_DEFAULTS_H_
#define SAM2_CONFIGS_DEFAULTS_H_

#include <array>
#include <cstdint>
#include <string_view>

namespace sam2::config::defaults {

// HieraConfig (sam2.modeling.backbones.hieradet.Hiera).
inline constexpr std::array<int32_t, 2> kHieraQStride = {2, 2};
inline constexpr std::array<int32_t, 4> kHieraStages = {2, 3, 16, 3};
inline constexpr std::array<int32_t, 2> kHieraWindowPosEmbedBkgSpatialSize = {
    14, 14};
inline constexpr std::array<int32_t, 4> kHieraWindowSpec = {8, 4, 14, 7};
inline constexpr std::array<int32_t, 3> kHieraGlobalAttBlocks = {12, 16, 20};

// RoPEAttentionConfig.feat_sizes: stride-16 features of a 1024 px image.
inline constexpr std::array<int32_t, 2> kRopeFeatSizes = {64, 64};

// NormalizeConfig: the ImageNet statistics.
inline constexpr std::array<float, 3> kNormalizeMean = {0.485f, 0.456f, 0.406f};
inline constexpr std::array<float, 3> kNormalizeStd = {0.229f, 0.224f, 0.225f};

// RandomAffineConfig.image_mean: the fill value of uncovered pixels.
inline constexpr std::array<int32_t, 3> kRandomAffineImageMean = {123, 116,
                                                                  103};

// ModelWeightInitializerConfig.ckpt_state_dict_keys: where official and our
// checkpoints keep the state_dict.
inline constexpr std::array<std::string_view, 1> kCkptStateDictKeys = {"model"};

}  // namespace sam2::config::defaults

#endif  // SAM2_CONFIGS_DEFAULTS_H_
