// checkpoint: look inside PyTorch checkpoint files and take fine-tuned
// models back to Python.
//
//   checkpoint inspect FILE
//   checkpoint export --input=IN --output=OUT [--key=model]
#include <ATen/ATen.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/torch_errors.h"
#include "sam2/checkpoint/torch_file.h"

namespace {

using sam2::checkpoint::TensorDict;
using sam2::checkpoint::Value;

constexpr char kUsage[] =
    R"(usage:
  checkpoint inspect FILE
      Lists the top-level entries of a torch.save file (an official SAM 2
      checkpoint or one of ours) and every tensor of its model state_dict:
      name, shape, dtype, and the total number of values.
  checkpoint export --input=IN --output=OUT [--key=model]
      Writes the model weights of IN as an official-format checkpoint
      {"model": state_dict} that the Python sam2 package loads with
      build_sam2(..., ckpt_path=OUT) or torch.load(OUT, weights_only=True).
      --key names the entry of IN holding the state_dict (default "model";
      a file that is itself a dict of tensors needs none).
)";

// The state_dict inside `top`: top[key] if present, else `top` itself when it
// is a dict of tensors.
absl::StatusOr<TensorDict> ModelPart(const Value& top, const std::string& key,
                                     const std::string& path) {
  if (const Value* model = top.Find(key)) {
    return sam2::checkpoint::ToTensorDict(*model,
                                          absl::StrCat(path, "['", key, "']"));
  }
  absl::StatusOr<TensorDict> whole = sam2::checkpoint::ToTensorDict(top, path);
  if (whole.ok()) return whole;
  return absl::NotFoundError(absl::StrCat(
      path, " has no '", key, "' entry and is not a dict of tensors"));
}

int Inspect(const std::string& path) {
  absl::StatusOr<Value> top = sam2::checkpoint::LoadTorchFile(path);
  if (!top.ok()) {
    std::cerr << "checkpoint: " << top.status().message() << "\n";
    return 1;
  }
  std::cout << path << ": " << top->KindName();
  if (top->is_dict()) {
    std::cout << " with " << top->entries().size() << " entries\n";
    for (const auto& [k, v] : top->entries()) {
      std::string size;
      if (v.is_dict())
        size = absl::StrCat(" (", v.entries().size(), " entries)");
      if (v.kind() == Value::Kind::kInt) size = absl::StrCat(" = ", v.as_int());
      if (v.kind() == Value::Kind::kDouble) {
        size = absl::StrCat(" = ", v.as_double());
      }
      std::cout << "  "
                << (k.kind() == Value::Kind::kString ? k.as_string()
                                                     : k.KindName())
                << ": " << v.KindName() << size << "\n";
    }
  } else {
    std::cout << "\n";
  }
  absl::StatusOr<TensorDict> model = ModelPart(*top, "model", path);
  if (!model.ok()) {
    std::cout << "no model state_dict: " << model.status().message() << "\n";
    return 0;
  }
  int64_t total = 0;
  std::map<std::string, int64_t> by_dtype;
  std::cout << "\nmodel state_dict (" << model->size() << " tensors):\n";
  for (const auto& [name, t] : *model) {
    std::cout << absl::StrFormat("  %-70s %-18s %s\n", name,
                                 c10::str(t.sizes()),
                                 c10::toString(t.scalar_type()));
    total += t.numel();
    by_dtype[c10::toString(t.scalar_type())] += t.numel();
  }
  std::cout << absl::StrFormat("total: %d values (%.2fM)", total, total / 1e6);
  for (const auto& [dtype, n] : by_dtype)
    std::cout << ", " << dtype << " " << n;
  std::cout << "\n";
  return 0;
}

int Export(const std::map<std::string, std::string>& flags) {
  auto get = [&](const std::string& k, const std::string& d) {
    auto it = flags.find(k);
    return it == flags.end() ? d : it->second;
  };
  const std::string input = get("input", ""), output = get("output", "");
  if (input.empty() || output.empty()) {
    std::cerr << "checkpoint export: --input and --output are required\n\n"
              << kUsage;
    return 2;
  }
  absl::StatusOr<Value> top = sam2::checkpoint::LoadTorchFile(input);
  if (!top.ok()) {
    std::cerr << "checkpoint: " << top.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<TensorDict> model =
      ModelPart(*top, get("key", "model"), input);
  if (!model.ok()) {
    std::cerr << "checkpoint: " << model.status().message() << "\n";
    return 1;
  }
  const std::string temp = output + ".tmp";
  absl::Status s = sam2::checkpoint::SaveModelCheckpoint(temp, *model);
  if (s.ok() && std::rename(temp.c_str(), output.c_str()) != 0) {
    s = absl::InternalError(
        absl::StrCat("cannot rename ", temp, " to ", output));
  }
  if (!s.ok()) {
    std::remove(temp.c_str());
    std::cerr << "checkpoint: " << s.message() << "\n";
    return 1;
  }
  std::cout << "wrote " << output << " (" << model->size() << " tensors from "
            << input << ")\n";
  return 0;
}

}  // namespace

int Main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") ||
      !std::strcmp(argv[1], "-h")) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  if (command == "inspect") {
    if (argc != 3) {
      std::cerr << kUsage;
      return 2;
    }
    return Inspect(argv[2]);
  }
  if (command == "export") {
    std::map<std::string, std::string> flags;
    for (int i = 2; i < argc; ++i) {
      const std::string arg = argv[i];
      const size_t eq = arg.find('=');
      if (arg.rfind("--", 0) != 0 || eq == std::string::npos) {
        std::cerr << "checkpoint export: unexpected argument " << arg << "\n";
        return 2;
      }
      const std::string name = arg.substr(2, eq - 2);
      if (name != "input" && name != "output" && name != "key") {
        std::cerr << "checkpoint export: unknown flag --" << name << "\n";
        return 2;
      }
      flags[name] = arg.substr(eq + 1);
    }
    return Export(flags);
  }
  std::cerr << "checkpoint: unknown command '" << command << "'\n\n" << kUsage;
  return 2;
}

int main(int argc, char** argv) {
  return sam2::base::RunMainCatchingTorchErrors(
      "checkpoint", [&] { return Main(argc, argv); });
}
