// Writing files so that an interrupted write never destroys the previous
// version: write to a temporary file beside the target, fsync it, rename it
// over the target (atomic on POSIX file systems), fsync the directory.
#ifndef SAM2_TRAINING_LOOP_ATOMIC_FILE_H_
#define SAM2_TRAINING_LOOP_ATOMIC_FILE_H_

#include <functional>
#include <string>

#include "absl/status/status.h"

namespace sam2::training {

// Calls `write(temp_path)` to produce the new content, then atomically
// replaces `path` with it. On any failure the temporary file is removed and
// `path` is left as it was.
absl::Status WriteFileAtomically(
    const std::string& path,
    const std::function<absl::Status(const std::string& temp_path)>& write);

// Same, for content already in memory.
absl::Status WriteStringAtomically(const std::string& path,
                                   const std::string& content);

// fsyncs a file or directory.
absl::Status SyncPath(const std::string& path);

}  // namespace sam2::training

#endif  // SAM2_TRAINING_LOOP_ATOMIC_FILE_H_
