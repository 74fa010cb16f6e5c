// The subset of Python's pickle that torch.save writes, read and written
// without Python. LibTorch 1.13's torch::pickle_load turns every
// collections.OrderedDict into None (so it cannot read a state_dict) and
// torch::pickle_save's output is refused by torch.load(weights_only=True),
// hence our own.
//
// Values have Python's reference semantics for containers (copies of a Value
// share the list/dict), which pickle's memo relies on.
#ifndef SAM2_CHECKPOINT_PICKLE_H_
#define SAM2_CHECKPOINT_PICKLE_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace sam2::checkpoint {

class Value {
 public:
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kDouble,
    kString,
    kTensor,
    kList,
    kTuple,
    kDict,
    kOrderedDict,
    kGlobal,   // a class or function named by module + name (while unpickling)
    kStorage,  // a storage reference (while unpickling)
  };
  using Items = std::vector<Value>;
  using Entries = std::vector<std::pair<Value, Value>>;

  Value() = default;
  static Value None() { return Value(); }
  static Value Bool(bool v);
  static Value Int(int64_t v);
  static Value Double(double v);
  static Value String(std::string v);
  static Value Tensor(at::Tensor v);
  static Value List(Items items = {});
  static Value Tuple(Items items = {});
  static Value Dict(Entries entries = {});
  static Value OrderedDict(Entries entries = {});
  static Value Global(std::string module, std::string name);
  static Value Storage(std::string key, at::ScalarType dtype, int64_t numel);

  Kind kind() const { return kind_; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_dict() const {
    return kind_ == Kind::kDict || kind_ == Kind::kOrderedDict;
  }
  bool is_sequence() const {
    return kind_ == Kind::kList || kind_ == Kind::kTuple;
  }
  bool as_bool() const { return int_ != 0; }
  int64_t as_int() const { return int_; }
  double as_double() const { return kind_ == Kind::kInt ? int_ : double_; }
  const std::string& as_string() const { return string_; }
  const at::Tensor& as_tensor() const { return tensor_; }
  // Lists and tuples.
  const Items& items() const { return *items_; }
  Items& mutable_items() { return *items_; }
  // Dicts, in insertion order.
  const Entries& entries() const { return *entries_; }
  Entries& mutable_entries() { return *entries_; }
  // Dict lookup by string key; nullptr if absent.
  const Value* Find(const std::string& key) const;
  // Appends or replaces a string-keyed entry.
  void Set(const std::string& key, Value value);

  // Global: "module.name"; storage: its archive key.
  const std::string& global_name() const { return string_; }
  at::ScalarType storage_dtype() const { return dtype_; }
  int64_t storage_numel() const { return int_; }

  std::string KindName() const;

 private:
  Kind kind_ = Kind::kNone;
  int64_t int_ = 0;
  double double_ = 0;
  std::string string_;
  at::Tensor tensor_;
  at::ScalarType dtype_ = at::kFloat;
  std::shared_ptr<Items> items_;
  std::shared_ptr<Entries> entries_;
};

// Returns the storage named by a persistent id as a 1-D tensor of `numel`
// elements; the same key must give the same tensor (views share storage).
using StorageLoader = std::function<absl::StatusOr<at::Tensor>(
    const std::string& key, at::ScalarType dtype, int64_t numel)>;

// Unpickles `data` (named `source` in errors). Unknown opcodes and globals
// are errors that name them.
absl::StatusOr<Value> Unpickle(const std::string& data,
                               const StorageLoader& load_storage,
                               const std::string& source);

// A storage to write: its key in the archive and its bytes (contiguous).
struct StorageRecord {
  std::string key;
  at::Tensor data;  // contiguous, 1-D
};

// Pickles `value` (protocol 2, only what torch.load(weights_only=True)
// accepts). Tensors become storages appended to `storages`.
absl::StatusOr<std::string> Pickle(const Value& value,
                                   std::vector<StorageRecord>* storages);

}  // namespace sam2::checkpoint

#endif  // SAM2_CHECKPOINT_PICKLE_H_
