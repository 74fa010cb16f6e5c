// subset_goldens IN.pt OUT.pt PREFIX...: keeps the entries of a {name: tensor}
// torch.save file whose names start with one of the prefixes (the reference
// goldens hold three videos per mode; the tests use one).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "sam2/checkpoint/torch_file.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: subset_goldens IN.pt OUT.pt PREFIX...\n");
    return 2;
  }
  auto all = sam2::checkpoint::LoadTensorDict(argv[1]);
  if (!all.ok()) {
    std::fprintf(stderr, "subset_goldens: %s\n",
                 all.status().ToString().c_str());
    return 1;
  }
  sam2::checkpoint::TensorDict kept;
  for (const auto& [name, tensor] : *all) {
    for (int i = 3; i < argc; ++i) {
      if (absl::StartsWith(name, argv[i])) {
        kept.emplace_back(name, tensor);
        break;
      }
    }
  }
  const absl::Status s = sam2::checkpoint::SaveTorchFile(
      argv[2], sam2::checkpoint::ToOrderedDict(kept));
  if (!s.ok()) {
    std::fprintf(stderr, "subset_goldens: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("%zu of %zu tensors\n", kept.size(), all->size());
  return 0;
}
