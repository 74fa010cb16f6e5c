// Reading and writing torch.save files (the zip format of PyTorch >= 1.6).
//
//   LoadTorchFile("sam2.1_hiera_base_plus.pt") -> {"model": OrderedDict}
//   LoadStateDict(path) -> the state_dict under "model", ordered
//   SaveTorchFile(path, value) -> a file torch.load(..., weights_only=True)
//                                 reads
#ifndef SAM2_CHECKPOINT_TORCH_FILE_H_
#define SAM2_CHECKPOINT_TORCH_FILE_H_

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "sam2/checkpoint/pickle.h"

namespace sam2::checkpoint {

// name -> tensor, in the file's order.
using TensorDict = std::vector<std::pair<std::string, at::Tensor>>;

// The whole pickled object, tensors loaded (views of one storage share it).
absl::StatusOr<Value> LoadTorchFile(const std::string& path);

// The dict of tensors found by following `key_path` from the top-level object
// (the reference's ckpt_state_dict_keys; {"model"} for official
// checkpoints, {} for a bare state_dict or a plain {name: tensor} file).
absl::StatusOr<TensorDict> LoadStateDict(
    const std::string& path,
    const std::vector<std::string>& key_path = {"model"});
absl::StatusOr<TensorDict> LoadTensorDict(const std::string& path);

// Converts a dict value of tensors; errors name `source` and the bad entry.
absl::StatusOr<TensorDict> ToTensorDict(const Value& dict,
                                        const std::string& source);
Value ToOrderedDict(const TensorDict& tensors);

// Writes `value` as torch.save would (archive folder named after the file).
absl::Status SaveTorchFile(const std::string& path, const Value& value);

// {"model": OrderedDict(state_dict)}: what the official loader expects.
absl::Status SaveModelCheckpoint(const std::string& path,
                                 const TensorDict& state_dict);

}  // namespace sam2::checkpoint

#endif  // SAM2_CHECKPOINT_TORCH_FILE_H_
