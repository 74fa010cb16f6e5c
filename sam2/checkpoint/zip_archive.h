// The zip container of PyTorch's torch.save files: uncompressed ("stored")
// records under one top-level folder, data records aligned to 64 bytes.
// Only what those files use is supported; anything else is an error that
// names the file.
#ifndef SAM2_CHECKPOINT_ZIP_ARCHIVE_H_
#define SAM2_CHECKPOINT_ZIP_ARCHIVE_H_

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sam2::checkpoint {

class ZipReader {
 public:
  static absl::StatusOr<ZipReader> Open(const std::string& path);
  ZipReader(ZipReader&& other) noexcept;
  ZipReader& operator=(ZipReader&& other) noexcept;
  ZipReader(const ZipReader&) = delete;
  ~ZipReader();

  const std::string& path() const { return path_; }
  // Record names in the order of the central directory.
  const std::vector<std::string>& names() const { return names_; }
  bool Has(const std::string& name) const { return entries_.count(name) > 0; }
  absl::StatusOr<uint64_t> Size(const std::string& name) const;
  // Reads a whole record into `out` (which must hold Size(name) bytes) and
  // checks its CRC-32.
  absl::Status ReadInto(const std::string& name, void* out,
                        uint64_t size) const;
  absl::StatusOr<std::string> Read(const std::string& name) const;

 private:
  struct Entry {
    uint64_t local_header_offset = 0;
    uint64_t size = 0;
    uint64_t compressed_size = 0;
    uint32_t crc32 = 0;
    uint16_t method = 0;
  };
  ZipReader() = default;
  absl::Status ReadCentralDirectory();
  absl::Status ReadAt(uint64_t offset, void* out, uint64_t size) const;
  absl::Status Error(const std::string& message) const;

  std::string path_;
  std::FILE* file_ = nullptr;
  uint64_t file_size_ = 0;
  std::vector<std::string> names_;
  std::map<std::string, Entry> entries_;
};

// Writes records one after another, then the central directory on Close().
class ZipWriter {
 public:
  static absl::StatusOr<ZipWriter> Create(const std::string& path);
  ZipWriter(ZipWriter&& other) noexcept;
  ZipWriter(const ZipWriter&) = delete;
  ~ZipWriter();

  // Data starts at a multiple of `alignment` bytes (PyTorch uses 64 so that
  // storages can be memory-mapped).
  absl::Status Add(const std::string& name, const void* data, uint64_t size,
                   uint64_t alignment = 64);
  absl::Status Close();

 private:
  struct Entry {
    std::string name;
    uint64_t offset;
    uint64_t size;
    uint32_t crc32;
  };
  ZipWriter() = default;
  absl::Status Write(const void* data, uint64_t size);

  std::string path_;
  std::FILE* file_ = nullptr;
  uint64_t offset_ = 0;
  std::vector<Entry> entries_;
};

}  // namespace sam2::checkpoint

#endif  // SAM2_CHECKPOINT_ZIP_ARCHIVE_H_
