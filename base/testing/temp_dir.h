// Scratch directories for tests: one fresh directory per name under Bazel's
// $TEST_TMPDIR (or /tmp outside Bazel), emptied first so that a rerun of the
// same test starts from nothing.
#ifndef SAM2_BASE_TESTING_TEMP_DIR_H_
#define SAM2_BASE_TESTING_TEMP_DIR_H_

#include <string>

namespace sam2::testutil {

// $TEST_TMPDIR (or /tmp).
std::string TestTmpRoot();

// <root>/<name>, removed if present and created empty. `name` may contain
// slashes.
std::string FreshTempDir(const std::string& name);

// <root>/<name>, a path for a file; its parent directory exists, the file
// itself does not.
std::string TempPath(const std::string& name);

// The file's bytes; fails the test (and returns "") when it cannot be read.
std::string ReadFileOrFail(const std::string& path);

}  // namespace sam2::testutil

#endif  // SAM2_BASE_TESTING_TEMP_DIR_H_
