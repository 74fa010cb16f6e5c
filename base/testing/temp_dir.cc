#include "base/testing/temp_dir.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sam2::testutil {

namespace fs = std::filesystem;

std::string TestTmpRoot() {
  const char* root = std::getenv("TEST_TMPDIR");
  return root != nullptr && *root != '\0' ? root : "/tmp";
}

std::string FreshTempDir(const std::string& name) {
  const fs::path dir = fs::path(TestTmpRoot()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string TempPath(const std::string& name) {
  const fs::path path = fs::path(TestTmpRoot()) / name;
  fs::create_directories(path.parent_path());
  fs::remove_all(path);
  return path.string();
}

std::string ReadFileOrFail(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace sam2::testutil
