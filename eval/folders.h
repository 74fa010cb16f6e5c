// Folder listing and path joining as the reference's `os.listdir` and
// `os.path.join` do them, with errors that name the folder.
#ifndef SAM2_EVAL_FOLDERS_H_
#define SAM2_EVAL_FOLDERS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sam2::eval {

// `os.path.join(a, b)` for a relative `b`: a '/' between them unless `a` is
// empty or already ends with one.
std::string PathJoin(const std::string& a, const std::string& b);

// The entry names of `dir` (files and folders, "." and ".." left out) in
// the order the file system lists them, like `os.listdir`.
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir);

// ListDir, sorted by name (byte order: Python's code-point order for UTF-8).
absl::StatusOr<std::vector<std::string>> ListDirSorted(const std::string& dir);

// `os.path.isdir` (follows symbolic links).
bool IsDir(const std::string& path);

}  // namespace sam2::eval

#endif  // SAM2_EVAL_FOLDERS_H_
