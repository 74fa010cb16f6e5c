// Whole-file reads and writes with absl::Status errors that name the file.
#ifndef SAM2_DATA_CODECS_FILE_IO_H_
#define SAM2_DATA_CODECS_FILE_IO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sam2::data {

// The bytes of `path`. NotFound if it does not exist, DataLoss on a read error.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Writes `bytes` to `path` (truncating). Parent directories must exist.
absl::Status WriteStringToFile(const std::string& path,
                               absl::string_view bytes);

// Writes `bytes` to `path` + ".tmp", then renames it to `path`: readers see
// the old file or the whole new one, never a part.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view bytes);

}  // namespace sam2::data

#endif  // SAM2_DATA_CODECS_FILE_IO_H_
