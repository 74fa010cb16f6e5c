// parity_dump: runs the scenarios of the parity fixtures
// (tests/testdata/parity/README.md) with the model, loss and optimizer of an
// experiment config and writes the same keys as the fixture's
// parity_small_io.pt, so that any model can be compared with the reference
// implementation run on the same weights and inputs.
//
// Scenarios (SAM2Train in eval mode, float32, on the CPU or a GPU):
//   1. image encoder on frame 0 image_encoder.{backbone_fpn,vision_pos_enc}.L
//   2. GT mask prompt on frame 0      mask_prompt.frame<t>.* (no gradients)
//   3. click + corrections on frame 0 point_prompt.frame<t>.*
//   4. loss of scenario 3             loss.<name>
//   5. its gradients                  grad.<param> (parameters that get one)
//   6. clip + one AdamW step at schedule progress 0
//                                     optim.grad_total_norm_before_clip,
//                                     after_step.<param> (every parameter)
// plus the input.* tensors that were used.
//
// Beyond the committed parity-small fixture (tools:parity_dump_test), checked
// once by hand against the reference harness's Hiera-T variant
// (gen_parity.py --variant hiera_t, generated on the same CPU, 39M
// parameters, 1028 keys) with
//   --config=mose --set='model_preset: "sam2.1_hiera_t" model { image_size:
//   256 memory_attention { layer { self_attention { feat_sizes: [16, 16] }
//   cross_attention { feat_sizes: [16, 16] } } } }'
// same keys; forward 1.3e-6 of max(1, |ref|), clicks exact, losses 1.3e-7
// relative, every gradient <= 7.5e-4 of its max |ref| (cosine >= 1 - 4e-9),
// after_step 1.2e-7: all within the README's tolerances.
#ifndef SAM2_TOOLS_PARITY_DUMP_H_
#define SAM2_TOOLS_PARITY_DUMP_H_

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "configs/experiment.pb.h"
#include "sam2/checkpoint/torch_file.h"

namespace sam2::tools {

// The input.* tensors of a parity IO file: one batch of T frames.
struct ParityInputs {
  at::Tensor img_batch;         // float [T, B, 3, H, W], normalised
  at::Tensor masks;             // bool [T, O, H, W]
  at::Tensor obj_to_frame_idx;  // int [T, O, 2]: (frame, video in batch)
};

// Reads input.img_batch, input.masks and input.obj_to_frame_idx from a
// {key: tensor} file (other keys are ignored). Errors name the file and the
// missing or malformed key.
absl::StatusOr<ParityInputs> LoadParityInputs(const std::string& path);

// The weights of a checkpoint: the state_dict under "model" (official
// checkpoints, parity_small_model.pt) or, when the file has no "model" key,
// the file's own {name: tensor}.
absl::StatusOr<checkpoint::TensorDict> LoadModelWeights(
    const std::string& path);

// Runs the scenarios with the experiment's model (strictly loaded from
// `weights`; `weights_source` names them in errors), loss and optimizer on
// `inputs`. Returns the keys in the fixture's order, input.* first. Errors:
// an invalid model config, weights that do not fit the model, inputs whose
// image size differs from model.image_size.
// The model and the inputs go to `device`; the results come back to the CPU.
absl::StatusOr<checkpoint::TensorDict> RunParityScenarios(
    const config::Experiment& experiment, const checkpoint::TensorDict& weights,
    const std::string& weights_source, const ParityInputs& inputs,
    const c10::Device& device = c10::Device(c10::DeviceType::CPU));

// Writes `tensors` as a plain dict that torch.load (weights_only=True too)
// reads.
absl::Status SaveParityDump(const std::string& path,
                            const checkpoint::TensorDict& tensors);

struct ParityDumpRequest {
  std::string config;             // a config name or a .pbtxt path
  std::vector<std::string> sets;  // --set overrides, in order
  std::string checkpoint;         // MODEL.pt
  std::string inputs;             // IO.pt with input.* tensors
  std::string output;             // OUT.pt
  std::vector<std::string> config_search_dirs;  // empty: the defaults
  std::string device = "cpu";     // "cpu" or "cuda" (the first GPU)
};

// The whole tool: loads and validates the config, reads the inputs and the
// weights, runs the scenarios and writes the output. Everything that can be
// checked cheaply (files, keys, the output's folder) is checked before the
// scenarios run.
absl::Status RunParityDump(const ParityDumpRequest& request);

}  // namespace sam2::tools

#endif  // SAM2_TOOLS_PARITY_DUMP_H_
