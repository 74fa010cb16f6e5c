#include "tools/parity_dump.h"

#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "configs/loader.h"
#include "sam2/checkpoint/pickle.h"
#include "sam2/checkpoint/state_dict.h"
#include "sam2/training/model/loss_fns.h"
#include "sam2/training/model/sam2_train.h"
#include "sam2/training/model_builder.h"
#include "sam2/training/optim/adamw.h"

namespace sam2::tools {
namespace {

namespace fs = std::filesystem;
using checkpoint::TensorDict;
using modeling::FrameOutput;
using training::SAM2Train;

// An owned, contiguous copy: outputs may be views of one another (or of
// parameters the next scenario changes), and the file needs each on its own.
// On the CPU, for the file.
at::Tensor Snapshot(const at::Tensor& t) {
  return t.detach().to(at::kCPU).clone(at::MemoryFormat::Contiguous);
}

absl::Status FileMustExist(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("no ", what, " given"));
  }
  if (!fs::is_regular_file(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat(what, " ", path, " does not exist or is not a file"));
  }
  return absl::OkStatus();
}

std::string ShapeText(const at::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]");
}

// The ParityInputs invariants, each error naming the file and the key.
absl::Status CheckInputs(const ParityInputs& in, const std::string& path) {
  auto bad = [&path](const std::string& key, const std::string& problem) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", key, " ", problem));
  };
  if (in.img_batch.dim() != 5 || in.img_batch.size(2) != 3 ||
      !in.img_batch.is_floating_point()) {
    return bad("input.img_batch",
               absl::StrCat("must be a float tensor [T, B, 3, H, W], is ",
                            c10::toString(in.img_batch.scalar_type()), " ",
                            ShapeText(in.img_batch)));
  }
  const int64_t frames = in.img_batch.size(0);
  if (in.masks.dim() != 4 || in.masks.size(0) != frames ||
      in.masks.size(2) != in.img_batch.size(3) ||
      in.masks.size(3) != in.img_batch.size(4)) {
    return bad(
        "input.masks",
        absl::StrCat("must be [T, O, H, W] with T, H, W of "
                     "input.img_batch ",
                     ShapeText(in.img_batch), ", is ", ShapeText(in.masks)));
  }
  const int64_t objects = in.masks.size(1);
  if (in.obj_to_frame_idx.dim() != 3 || in.obj_to_frame_idx.size(0) != frames ||
      in.obj_to_frame_idx.size(1) != objects ||
      in.obj_to_frame_idx.size(2) != 2 ||
      in.obj_to_frame_idx.is_floating_point()) {
    return bad(
        "input.obj_to_frame_idx",
        absl::StrCat("must be an integer tensor [T, O, 2] = [", frames, ", ",
                     objects, ", 2], is ", ShapeText(in.obj_to_frame_idx)));
  }
  const at::Tensor video = in.obj_to_frame_idx.select(2, 1);
  if (video.min().item<int64_t>() < 0 ||
      video.max().item<int64_t>() >= in.img_batch.size(1)) {
    return bad("input.obj_to_frame_idx",
               absl::StrCat("has a video index outside [0, ",
                            in.img_batch.size(1), ")"));
  }
  return absl::OkStatus();
}

// The model resizes nothing: its inputs must have its image_size.
// `inputs_source` (may be empty) names the inputs in the error.
absl::Status CheckImageSize(const ParityInputs& inputs, int64_t image_size,
                            const std::string& inputs_source) {
  if (inputs.img_batch.size(3) == image_size &&
      inputs.img_batch.size(4) == image_size) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      inputs_source.empty() ? "" : inputs_source + ": ",
      "input.img_batch has images of ", inputs.img_batch.size(3), "x",
      inputs.img_batch.size(4), " but the model's image_size is ", image_size,
      " (set model.image_size, and feat_sizes to match, or resize the "
      "inputs)"));
}

training::TrackingInput ToTrackingInput(const ParityInputs& in) {
  training::TrackingInput input;
  input.img_batch = in.img_batch.to(at::kFloat);
  input.obj_to_frame_idx = in.obj_to_frame_idx.to(at::kInt);
  input.masks = in.masks.to(at::kBool);
  return input;
}

// Scenario 1: forward_image on the images of frame 0.
void DumpImageEncoder(training::SAM2TrainImpl& model, const at::Tensor& images,
                      TensorDict& out) {
  at::NoGradGuard no_grad;
  const modeling::ImageEncoderOutput features = model.forward_image(images);
  for (size_t i = 0; i < features.backbone_fpn.size(); ++i) {
    out.emplace_back(absl::StrCat("image_encoder.backbone_fpn.", i),
                     Snapshot(features.backbone_fpn[i]));
  }
  for (size_t i = 0; i < features.vision_pos_enc.size(); ++i) {
    out.emplace_back(absl::StrCat("image_encoder.vision_pos_enc.", i),
                     Snapshot(features.vision_pos_enc[i]));
  }
}

// Per frame and step, what the fixture keeps of a tracked clip (the
// reference harness's tracking_outputs): multimask logits only on frames 0
// and 1, first and last step (the others are covered through the loss).
void DumpTracking(const std::string& scenario,
                  const std::vector<FrameOutput>& outputs, TensorDict& out) {
  for (size_t t = 0; t < outputs.size(); ++t) {
    const FrameOutput& o = outputs[t];
    const std::string f = absl::StrCat(scenario, ".frame", t);
    out.emplace_back(f + ".pred_masks", Snapshot(o.pred_masks));
    out.emplace_back(f + ".pred_masks_high_res",
                     Snapshot(o.pred_masks_high_res));
    out.emplace_back(f + ".object_score_logits",
                     Snapshot(o.multistep_object_score_logits.back()));
    out.emplace_back(f + ".maskmem_features", Snapshot(o.maskmem_features));
    const int64_t num_steps = o.multistep_pred_ious.size();
    out.emplace_back(f + ".num_steps", at::scalar_tensor(num_steps, at::kLong));
    for (int64_t s = 0; s < num_steps; ++s) {
      const std::string p = absl::StrCat(f, ".step", s);
      out.emplace_back(p + ".ious", Snapshot(o.multistep_pred_ious[s]));
      if (t <= 1 && (s == 0 || s == num_steps - 1)) {
        out.emplace_back(p + ".multimasks_high_res",
                         Snapshot(o.multistep_pred_multimasks_high_res[s]));
      }
      const std::optional<modeling::PointInputs>& points =
          o.multistep_point_inputs[s];
      if (points.has_value()) {
        out.emplace_back(p + ".point_coords", Snapshot(points->point_coords));
        out.emplace_back(p + ".point_labels",
                         Snapshot(points->point_labels.to(at::kInt)));
      }
    }
  }
}

// The eval-mode prompt protocol of the fixture's scenarios, whatever the
// config's eval prompting says: prompts only on frame 0 (one initial
// conditioning frame, no random choices), a GT mask (scenario 2) or a click
// at the centre of the GT mask followed by the config's number of correction
// clicks at the centres of the error regions (scenario 3). Boxes are off:
// the scenario is defined with a click.
void SetScenarioPrompts(training::SAM2TrainImpl& model, bool clicks) {
  training::SAM2TrainOptions& o = model.mutable_train_options();
  o.prob_to_use_pt_input_for_eval = clicks ? 1.0 : 0.0;
  o.prob_to_use_box_input_for_eval = 0.0;
  o.num_init_cond_frames_for_eval = 1;
  o.rand_init_cond_frames_for_eval = false;
  o.num_frames_to_correct_for_eval = 1;
  o.rand_frames_to_correct_for_eval = false;
  o.pt_sampling_for_eval = training::PointSamplingMethod::kCenter;
  // Each scenario starts from the same generator state, as a fresh model.
  model.set_seed(o.seed);
}

}  // namespace

absl::StatusOr<ParityInputs> LoadParityInputs(const std::string& path) {
  if (absl::Status s = FileMustExist(path, "inputs file"); !s.ok()) return s;
  absl::StatusOr<checkpoint::Value> top = checkpoint::LoadTorchFile(path);
  if (!top.ok()) return top.status();
  if (!top->is_dict()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " holds a ", top->KindName(), ", not a dict {key: tensor}"));
  }
  ParityInputs in;
  const std::pair<const char*, at::Tensor*> fields[] = {
      {"input.img_batch", &in.img_batch},
      {"input.masks", &in.masks},
      {"input.obj_to_frame_idx", &in.obj_to_frame_idx}};
  for (const auto& [key, field] : fields) {
    const checkpoint::Value* value = top->Find(key);
    if (value == nullptr) {
      return absl::NotFoundError(absl::StrCat(
          path, " has no key '", key,
          "' (an inputs file needs input.img_batch, input.masks and "
          "input.obj_to_frame_idx, as parity_small_io.pt)"));
    }
    if (value->kind() != checkpoint::Value::Kind::kTensor) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": ", key, " is a ", value->KindName(), ", not a tensor"));
    }
    *field = value->as_tensor();
  }
  if (absl::Status s = CheckInputs(in, path); !s.ok()) return s;
  return in;
}

absl::StatusOr<TensorDict> LoadModelWeights(const std::string& path) {
  if (absl::Status s = FileMustExist(path, "checkpoint file"); !s.ok()) {
    return s;
  }
  absl::StatusOr<checkpoint::Value> top = checkpoint::LoadTorchFile(path);
  if (!top.ok()) return top.status();
  if (const checkpoint::Value* model = top->Find("model");
      model != nullptr && model->is_dict()) {
    return checkpoint::ToTensorDict(*model, path + "['model']");
  }
  return checkpoint::ToTensorDict(*top, path);
}

absl::StatusOr<TensorDict> RunParityScenarios(
    const config::Experiment& experiment, const TensorDict& weights,
    const std::string& weights_source, const ParityInputs& inputs,
    const c10::Device& device) {
  absl::StatusOr<training::SAM2TrainOptions> options =
      training::ModelOptionsFromConfig(experiment.model());
  if (!options.ok()) return options.status();
  options->seed = experiment.trainer().seed_value();
  if (absl::Status s = CheckImageSize(inputs, options->base.image_size, "");
      !s.ok()) {
    return s;
  }
  SAM2Train model(*options);
  absl::StatusOr<checkpoint::LoadReport> loaded =
      checkpoint::LoadStateDictIntoModel(*model, weights, {}, weights_source);
  if (!loaded.ok()) return loaded.status();
  model->to(device);
  // Before any forward pass, as the training job: the optimizer freezes
  // optim.frozen_param_patterns, which then get no gradient.
  absl::StatusOr<std::unique_ptr<training::optim::AdamW>> optimizer =
      training::optim::AdamW::Create(*model, experiment.optim());
  if (!optimizer.ok()) return optimizer.status();
  model->eval();  // no dropout, no drop path

  ParityInputs on_device = inputs;
  on_device.img_batch = inputs.img_batch.to(device);
  on_device.masks = inputs.masks.to(device);
  on_device.obj_to_frame_idx = inputs.obj_to_frame_idx.to(device);
  const training::TrackingInput input = ToTrackingInput(on_device);
  TensorDict out;
  out.emplace_back("input.img_batch", Snapshot(inputs.img_batch));
  out.emplace_back("input.masks", Snapshot(inputs.masks));
  out.emplace_back("input.obj_to_frame_idx", Snapshot(inputs.obj_to_frame_idx));

  DumpImageEncoder(*model, input.img_batch[0], out);

  SetScenarioPrompts(*model, /*clicks=*/false);
  {
    at::NoGradGuard no_grad;
    DumpTracking("mask_prompt", model->forward(input), out);
  }

  SetScenarioPrompts(*model, /*clicks=*/true);
  const std::vector<FrameOutput> outputs = model->forward(input);
  DumpTracking("point_prompt", outputs, out);

  const training::MultiStepMultiMasksAndIous loss_fn(
      training::LossOptionsFromConfig(experiment.loss()));
  const training::LossTensors losses =
      loss_fn.Compute(training::ToLossInputs(outputs), input.masks);
  for (const char* key :
       {training::kLossMask, training::kLossDice, training::kLossIou,
        training::kLossClass, training::kCoreLossKey}) {
    out.emplace_back(absl::StrCat("loss.", key), Snapshot(losses.at(key)));
  }
  (*optimizer)->ZeroGrad();
  losses.at(training::kCoreLossKey).backward();
  for (const auto& param : model->named_parameters()) {
    const at::Tensor& grad = param.value().grad();
    if (grad.defined()) {
      out.emplace_back("grad." + param.key(), Snapshot(grad));
    }
  }

  (*optimizer)->SetProgress(0.0);
  const double total_norm = (*optimizer)->ClipGradients();
  out.emplace_back("optim.grad_total_norm_before_clip",
                   at::scalar_tensor(total_norm, at::kFloat));
  (*optimizer)->Step();
  for (const auto& param : model->named_parameters()) {
    out.emplace_back("after_step." + param.key(), Snapshot(param.value()));
  }
  return out;
}

absl::Status SaveParityDump(const std::string& path,
                            const TensorDict& tensors) {
  checkpoint::Value dict = checkpoint::Value::Dict();
  for (const auto& [key, tensor] : tensors) {
    dict.mutable_entries().emplace_back(checkpoint::Value::String(key),
                                        checkpoint::Value::Tensor(tensor));
  }
  return checkpoint::SaveTorchFile(path, dict);
}

absl::Status RunParityDump(const ParityDumpRequest& request) {
  absl::StatusOr<config::LoadedExperiment> loaded = config::LoadExperiment(
      {request.config, request.sets, request.config_search_dirs});
  if (!loaded.ok()) return loaded.status();
  config::ValidationOptions validation;
  validation.check_paths = false;         // the checkpoint is a flag here
  validation.require_train_data = false;  // no data is read
  if (absl::Status s = config::ValidateExperiment(*loaded, validation);
      !s.ok()) {
    return s;
  }
  if (request.output.empty()) {
    return absl::InvalidArgumentError("no output file given (--output=OUT.pt)");
  }
  if (request.device != "cpu" && request.device != "cuda") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--device must be cpu or cuda, got \"", request.device, "\""));
  }
  if (request.device == "cuda" && !torch::cuda::is_available()) {
    return absl::FailedPreconditionError(
        "--device=cuda but no GPU is usable: build against a CUDA LibTorch "
        "(--config=cuda) and run on a machine with a GPU");
  }
  const fs::path output_dir =
      fs::absolute(fs::path(request.output)).parent_path();
  std::error_code ec;
  if (!fs::is_directory(output_dir, ec)) {
    return absl::NotFoundError(absl::StrCat("the folder of the output file ",
                                            request.output, " does not exist"));
  }
  absl::StatusOr<ParityInputs> inputs = LoadParityInputs(request.inputs);
  if (!inputs.ok()) return inputs.status();
  // Before reading the (possibly large) checkpoint.
  absl::StatusOr<training::SAM2TrainOptions> options =
      training::ModelOptionsFromConfig(loaded->experiment.model());
  if (!options.ok()) return options.status();
  if (absl::Status s =
          CheckImageSize(*inputs, options->base.image_size, request.inputs);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<TensorDict> weights = LoadModelWeights(request.checkpoint);
  if (!weights.ok()) return weights.status();
  if (const int threads = loaded->experiment.trainer().num_threads();
      threads > 0) {
    at::set_num_threads(threads);
  }
  const c10::Device device(request.device == "cuda" ? c10::DeviceType::CUDA
                                                     : c10::DeviceType::CPU);
  if (device.is_cuda()) {
    // A float32 comparison: no TensorFloat-32 in matrix products or cuDNN
    // convolutions (cuDNN's default allows it).
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
  }
  absl::StatusOr<TensorDict> dump = RunParityScenarios(
      loaded->experiment, *weights, request.checkpoint, *inputs, device);
  if (!dump.ok()) return dump.status();
  return SaveParityDump(request.output, *dump);
}

}  // namespace sam2::tools
