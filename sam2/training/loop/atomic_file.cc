#include "sam2/training/loop/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace sam2::training {
namespace {

absl::Status ErrnoError(const std::string& what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::Status SyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return ErrnoError("cannot open", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return ErrnoError("fsync failed for", path);
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(
    const std::string& path,
    const std::function<absl::Status(const std::string& temp_path)>& write) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir =
      target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create directory ",
                                            dir.string(), ": ", ec.message()));
  }
  // The pid keeps two processes writing the same file from sharing a temp.
  const std::string temp =
      absl::StrCat(path, ".tmp.", static_cast<long>(::getpid()));
  absl::Status status = write(temp);
  if (status.ok()) status = SyncPath(temp);
  if (status.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
    status = ErrnoError(absl::StrCat("cannot rename ", temp, " to"), path);
  }
  if (!status.ok()) {
    fs::remove(temp, ec);
    return status;
  }
  return SyncPath(dir.string());
}

absl::Status WriteStringAtomically(const std::string& path,
                                   const std::string& content) {
  return WriteFileAtomically(path, [&content](const std::string& temp) {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) return absl::InternalError("cannot write " + temp);
    return absl::OkStatus();
  });
}

}  // namespace sam2::training
