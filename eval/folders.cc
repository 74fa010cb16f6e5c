#include "eval/folders.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sam2::eval {

namespace fs = std::filesystem;

std::string PathJoin(const std::string& a, const std::string& b) {
  if (a.empty() || a.back() == '/') return a + b;
  return a + "/" + b;
}

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return absl::NotFoundError(absl::StrCat(
        dir, fs::exists(dir, error) ? ": not a folder" : ": no such folder"));
  }
  std::vector<std::string> names;
  fs::directory_iterator it(dir, error);
  for (; !error && it != fs::directory_iterator(); it.increment(error)) {
    names.push_back(it->path().filename().string());
  }
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat(dir, ": cannot list the folder: ", error.message()));
  }
  return names;
}

absl::StatusOr<std::vector<std::string>> ListDirSorted(const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = ListDir(dir);
  if (names.ok()) std::sort(names->begin(), names->end());
  return names;
}

bool IsDir(const std::string& path) {
  std::error_code error;
  return fs::is_directory(path, error);
}

}  // namespace sam2::eval
