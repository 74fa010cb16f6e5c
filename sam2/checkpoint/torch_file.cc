#include "sam2/checkpoint/torch_file.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sam2/checkpoint/zip_archive.h"

namespace sam2::checkpoint {
namespace {

// The top-level folder every record of the archive lives in.
absl::StatusOr<std::string> ArchivePrefix(const ZipReader& zip) {
  for (const std::string& name : zip.names()) {
    const size_t slash = name.find('/');
    if (slash != std::string::npos && name.substr(slash + 1) == "data.pkl") {
      return name.substr(0, slash + 1);
    }
  }
  return absl::DataLossError(
      absl::StrCat(zip.path(),
                   ": no data.pkl record: not a torch.save file (files from "
                   "torch.save with _use_new_zipfile_serialization=False are "
                   "not supported; re-save them with a recent PyTorch)"));
}

}  // namespace

absl::StatusOr<Value> LoadTorchFile(const std::string& path) {
  absl::StatusOr<ZipReader> zip = ZipReader::Open(path);
  if (!zip.ok()) return zip.status();
  absl::StatusOr<std::string> prefix = ArchivePrefix(*zip);
  if (!prefix.ok()) return prefix.status();
  if (zip->Has(*prefix + "byteorder")) {
    absl::StatusOr<std::string> order = zip->Read(*prefix + "byteorder");
    if (!order.ok()) return order.status();
    if (*order != "little") {
      return absl::UnimplementedError(
          absl::StrCat(path, ": big-endian checkpoints are not supported"));
    }
  }
  absl::StatusOr<std::string> pickle = zip->Read(*prefix + "data.pkl");
  if (!pickle.ok()) return pickle.status();
  std::map<std::string, at::Tensor> storages;
  const ZipReader& archive = *zip;
  const std::string& dir = *prefix;
  StorageLoader load = [&](const std::string& key, at::ScalarType dtype,
                           int64_t numel) -> absl::StatusOr<at::Tensor> {
    auto it = storages.find(key);
    if (it != storages.end()) {
      if (it->second.scalar_type() != dtype) {
        return absl::UnimplementedError(absl::StrCat(
            path, ": storage ", key, " is read with two element types"));
      }
      return it->second;
    }
    const std::string record = dir + "data/" + key;
    absl::StatusOr<uint64_t> size = archive.Size(record);
    if (!size.ok()) return size.status();
    at::Tensor data = at::empty({numel}, at::TensorOptions().dtype(dtype));
    const uint64_t bytes = numel * data.element_size();
    if (*size != bytes) {
      return absl::DataLossError(absl::StrCat(
          path, ": storage ", key, " has ", *size, " bytes, expected ", bytes,
          " (", numel, " elements of ", c10::toString(dtype), ")"));
    }
    if (absl::Status s = archive.ReadInto(record, data.data_ptr(), bytes);
        !s.ok()) {
      return s;
    }
    storages[key] = data;
    return data;
  };
  return Unpickle(*pickle, load, absl::StrCat("data.pkl of ", path));
}

absl::StatusOr<TensorDict> ToTensorDict(const Value& dict,
                                        const std::string& source) {
  if (!dict.is_dict()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, " is a ", dict.KindName(), ", not a dict of tensors"));
  }
  TensorDict out;
  for (const auto& [key, value] : dict.entries()) {
    if (key.kind() != Value::Kind::kString) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, " has a key that is not a string"));
    }
    if (value.kind() != Value::Kind::kTensor) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, "['", key.as_string(), "'] is a ",
                       value.KindName(), ", not a tensor"));
    }
    out.emplace_back(key.as_string(), value.as_tensor());
  }
  return out;
}

absl::StatusOr<TensorDict> LoadStateDict(
    const std::string& path, const std::vector<std::string>& key_path) {
  absl::StatusOr<Value> top = LoadTorchFile(path);
  if (!top.ok()) return top.status();
  const Value* current = &*top;
  std::string where = path;
  for (const std::string& key : key_path) {
    const Value* next = current->Find(key);
    if (next == nullptr) {
      std::vector<std::string> keys;
      if (current->is_dict()) {
        for (const auto& [k, v] : current->entries()) {
          if (k.kind() == Value::Kind::kString) keys.push_back(k.as_string());
        }
      }
      return absl::NotFoundError(
          absl::StrCat(where, " has no key '", key,
                       "' (keys: ", absl::StrJoin(keys, ", "), ")"));
    }
    current = next;
    absl::StrAppend(&where, "['", key, "']");
  }
  return ToTensorDict(*current, where);
}

absl::StatusOr<TensorDict> LoadTensorDict(const std::string& path) {
  return LoadStateDict(path, {});
}

Value ToOrderedDict(const TensorDict& tensors) {
  Value dict = Value::OrderedDict();
  for (const auto& [name, tensor] : tensors) {
    dict.mutable_entries().emplace_back(Value::String(name),
                                        Value::Tensor(tensor));
  }
  return dict;
}

absl::Status SaveTorchFile(const std::string& path, const Value& value) {
  std::vector<StorageRecord> storages;
  absl::StatusOr<std::string> pickle = Pickle(value, &storages);
  if (!pickle.ok()) return pickle.status();
  // torch.save names the folder after the file; any name loads.
  std::string folder = std::filesystem::path(path).stem().string();
  if (folder.empty() || folder.find('.') != std::string::npos) {
    folder = "archive";
  }
  absl::StatusOr<ZipWriter> zip = ZipWriter::Create(path);
  if (!zip.ok()) return zip.status();
  if (absl::Status s =
          zip->Add(folder + "/data.pkl", pickle->data(), pickle->size());
      !s.ok()) {
    return s;
  }
  const std::string byteorder = "little";
  if (absl::Status s =
          zip->Add(folder + "/byteorder", byteorder.data(), byteorder.size());
      !s.ok()) {
    return s;
  }
  for (const StorageRecord& record : storages) {
    const uint64_t bytes = record.data.numel() * record.data.element_size();
    if (absl::Status s = zip->Add(folder + "/data/" + record.key,
                                  record.data.data_ptr(), bytes);
        !s.ok()) {
      return s;
    }
  }
  const std::string version = "3\n";
  if (absl::Status s =
          zip->Add(folder + "/version", version.data(), version.size());
      !s.ok()) {
    return s;
  }
  return zip->Close();
}

absl::Status SaveModelCheckpoint(const std::string& path,
                                 const TensorDict& state_dict) {
  Value top = Value::Dict();
  top.Set("model", ToOrderedDict(state_dict));
  return SaveTorchFile(path, top);
}

}  // namespace sam2::checkpoint
