// Moving state_dicts between files and torch::nn modules, with the options
// of the reference's load_state_dict_into_model
// (training/utils/checkpoint_utils.py).
#ifndef SAM2_CHECKPOINT_STATE_DICT_H_
#define SAM2_CHECKPOINT_STATE_DICT_H_

#include <torch/nn/module.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "sam2/checkpoint/torch_file.h"

namespace sam2::checkpoint {

// Python's fnmatch.fnmatchcase: '*', '?', '[seq]', '[!seq]'.
bool Fnmatch(const std::string& name, const std::string& pattern);
bool MatchesAny(const std::string& name,
                const std::vector<std::string>& patterns);

// named_parameters() followed by named_buffers(), as PyTorch's state_dict
// (detached; they share memory with the module).
TensorDict ModelStateDict(const torch::nn::Module& model);

struct LoadOptions {
  // Missing keys are errors (after the ignore patterns). Unexpected keys are
  // errors whatever `strict` says, as in the reference's
  // check_load_state_dict_errors.
  bool strict = true;
  // Each pattern must match at least one missing (resp. unexpected) key.
  std::vector<std::string> ignore_missing_keys;     // fnmatch patterns
  std::vector<std::string> ignore_unexpected_keys;  // fnmatch patterns
};

struct LoadReport {
  std::vector<std::string> missing;     // model keys not in the file
  std::vector<std::string> unexpected;  // file keys not in the model
};

// Copies matching tensors into the module (converting dtype). A shape
// mismatch and an unexpected key are always errors, a missing key when
// strict; an ignore pattern that matches no missing (unexpected) key is an
// error. Errors list the keys; nothing is copied on error.
absl::StatusOr<LoadReport> LoadStateDictIntoModel(torch::nn::Module& model,
                                                  const TensorDict& state_dict,
                                                  const LoadOptions& options,
                                                  const std::string& source);

}  // namespace sam2::checkpoint

#endif  // SAM2_CHECKPOINT_STATE_DICT_H_
