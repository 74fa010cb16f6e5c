#include "sam2/training/test_models.h"

#include <cstdio>
#include <cstdlib>

#include "base/status_macros.h"
#include "sam2/training/model_builder.h"

namespace sam2::training {
namespace {

config::ValidationOptions ModelOnly() {
  config::ValidationOptions options;
  options.check_paths = false;
  options.require_train_data = false;
  return options;
}

void SetRopeGrid(int32_t side, config::RoPEAttentionConfig* rope) {
  rope->clear_feat_sizes();
  rope->add_feat_sizes(side);
  rope->add_feat_sizes(side);
}

// Tests cannot go on without their model: say why and stop.
template <typename T>
T OrDie(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    std::fprintf(stderr, "%s: %s\n", what,
                 std::string(value.status().message()).c_str());
    std::abort();
  }
  return *std::move(value);
}

}  // namespace

absl::StatusOr<config::LoadedExperiment> LoadExperimentForTest(
    const std::string& name, const std::vector<std::string>& overrides) {
  config::LoadRequest request;
  request.config = name;
  request.overrides = overrides;
  SAM2_ASSIGN_OR_RETURN(config::LoadedExperiment loaded,
                        config::LoadExperiment(request));
  SAM2_RETURN_IF_ERROR(config::ValidateExperiment(loaded, ModelOnly()));
  return loaded;
}

absl::StatusOr<SAM2TrainOptions> ModelOptionsForExperiment(
    const std::string& name, const std::vector<std::string>& overrides) {
  SAM2_ASSIGN_OR_RETURN(const config::LoadedExperiment loaded,
                        LoadExperimentForTest(name, overrides));
  return ModelOptionsFromConfig(loaded.experiment.model());
}

absl::StatusOr<MultiStepMultiMasksAndIousOptions> LossOptionsForExperiment(
    const std::string& name, const std::vector<std::string>& overrides) {
  SAM2_ASSIGN_OR_RETURN(const config::LoadedExperiment loaded,
                        LoadExperimentForTest(name, overrides));
  return LossOptionsFromConfig(loaded.experiment.loss());
}

absl::StatusOr<SAM2TrainOptions> ModelOptionsForPreset(
    const std::string& preset, int32_t image_size) {
  config::LoadedExperiment loaded;
  loaded.name = preset;
  config::ModelConfig* model = loaded.experiment.mutable_model();
  SAM2_ASSIGN_OR_RETURN(
      *model, config::LoadModelPreset(preset, config::DefaultConfigSearchDirs(),
                                      &loaded.locations));
  model->set_image_size(image_size);
  const int32_t side = image_size / model->backbone_stride();
  config::MemoryAttentionLayerConfig* layer =
      model->mutable_memory_attention()->mutable_layer();
  SetRopeGrid(side, layer->mutable_self_attention());
  SetRopeGrid(side, layer->mutable_cross_attention());
  config::ResolveDefaults(preset, &loaded.experiment);
  SAM2_RETURN_IF_ERROR(config::ValidateExperiment(loaded, ModelOnly()));
  return ModelOptionsFromConfig(*model);
}

SAM2TrainOptions ParitySmallModelOptions() {
  return OrDie(ModelOptionsForExperiment("parity_small"),
               "configs/parity_small.pbtxt");
}

MultiStepMultiMasksAndIousOptions ParitySmallLossOptions() {
  return OrDie(LossOptionsForExperiment("parity_small"),
               "configs/parity_small.pbtxt");
}

}  // namespace sam2::training
