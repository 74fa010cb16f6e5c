#include "sam2/checkpoint/zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sam2::checkpoint {
namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndOfCentralDirSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint64_t k32BitMax = 0xffffffffULL;

uint16_t Get16(const uint8_t* p) { return p[0] | (p[1] << 8); }
uint32_t Get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t Get64(const uint8_t* p) {
  return static_cast<uint64_t>(Get32(p)) |
         (static_cast<uint64_t>(Get32(p + 4)) << 32);
}
void Put16(std::string* s, uint16_t v) {
  s->push_back(static_cast<char>(v & 0xff));
  s->push_back(static_cast<char>(v >> 8));
}
void Put32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t Crc32(const void* data, uint64_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const Bytef* p = static_cast<const Bytef*>(data);
  while (size > 0) {
    const uInt chunk = static_cast<uInt>(std::min<uint64_t>(size, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

// ---------------------------------------------------------------- reader ----

absl::StatusOr<ZipReader> ZipReader::Open(const std::string& path) {
  ZipReader reader;
  reader.path_ = path;
  reader.file_ = std::fopen(path.c_str(), "rb");
  if (reader.file_ == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path));
  }
  if (std::fseek(reader.file_, 0, SEEK_END) != 0) {
    return reader.Error("cannot seek");
  }
  reader.file_size_ = static_cast<uint64_t>(std::ftell(reader.file_));
  if (absl::Status s = reader.ReadCentralDirectory(); !s.ok()) return s;
  return reader;
}

ZipReader::ZipReader(ZipReader&& other) noexcept { *this = std::move(other); }

ZipReader& ZipReader::operator=(ZipReader&& other) noexcept {
  if (this != &other) {
    if (file_ != nullptr) std::fclose(file_);
    path_ = std::move(other.path_);
    file_ = other.file_;
    file_size_ = other.file_size_;
    names_ = std::move(other.names_);
    entries_ = std::move(other.entries_);
    other.file_ = nullptr;
  }
  return *this;
}

ZipReader::~ZipReader() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status ZipReader::Error(const std::string& message) const {
  return absl::DataLossError(absl::StrCat(
      path_, ": ", message,
      " (not a PyTorch checkpoint, or a truncated/corrupted one)"));
}

absl::Status ZipReader::ReadAt(uint64_t offset, void* out,
                               uint64_t size) const {
  if (offset + size > file_size_ || offset + size < offset) {
    return Error(absl::StrCat("read of ", size, " bytes at ", offset,
                              " goes past the end of the file (", file_size_,
                              " bytes)"));
  }
  if (std::fseek(file_, static_cast<long>(offset), SEEK_SET) != 0 ||
      std::fread(out, 1, size, file_) != size) {
    return Error(absl::StrCat("cannot read ", size, " bytes at ", offset));
  }
  return absl::OkStatus();
}

absl::Status ZipReader::ReadCentralDirectory() {
  // The end-of-central-directory record is in the last 22 + 65535 bytes.
  const uint64_t tail = std::min<uint64_t>(file_size_, 22 + 65535);
  if (tail < 22) return Error("file too small for a zip archive");
  std::vector<uint8_t> buffer(tail);
  if (absl::Status s = ReadAt(file_size_ - tail, buffer.data(), tail);
      !s.ok()) {
    return s;
  }
  int64_t eocd = -1;
  for (int64_t i = static_cast<int64_t>(tail) - 22; i >= 0; --i) {
    if (Get32(&buffer[i]) == kEndOfCentralDirSig) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return Error("no zip end-of-central-directory record");
  const uint8_t* end = &buffer[eocd];
  uint64_t count = Get16(end + 10);
  uint64_t cd_size = Get32(end + 12);
  uint64_t cd_offset = Get32(end + 16);
  const uint64_t eocd_offset = file_size_ - tail + eocd;
  if (count == 0xffff || cd_size == k32BitMax || cd_offset == k32BitMax) {
    uint8_t locator[20];
    if (eocd_offset < 20) return Error("missing zip64 locator");
    if (absl::Status s = ReadAt(eocd_offset - 20, locator, 20); !s.ok())
      return s;
    if (Get32(locator) != kZip64LocatorSig)
      return Error("missing zip64 locator");
    uint8_t record[56];
    if (absl::Status s = ReadAt(Get64(locator + 8), record, 56); !s.ok())
      return s;
    if (Get32(record) != kZip64EndSig) return Error("bad zip64 end record");
    count = Get64(record + 32);
    cd_size = Get64(record + 40);
    cd_offset = Get64(record + 48);
  }
  std::vector<uint8_t> cd(cd_size);
  if (absl::Status s = ReadAt(cd_offset, cd.data(), cd_size); !s.ok()) return s;
  uint64_t pos = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (pos + 46 > cd_size || Get32(&cd[pos]) != kCentralHeaderSig) {
      return Error("corrupted zip central directory");
    }
    const uint8_t* h = &cd[pos];
    Entry entry;
    entry.method = Get16(h + 10);
    entry.crc32 = Get32(h + 16);
    entry.compressed_size = Get32(h + 20);
    entry.size = Get32(h + 24);
    const uint16_t name_len = Get16(h + 28);
    const uint16_t extra_len = Get16(h + 30);
    const uint16_t comment_len = Get16(h + 32);
    entry.local_header_offset = Get32(h + 42);
    if (pos + 46 + name_len + extra_len + comment_len > cd_size) {
      return Error("corrupted zip central directory");
    }
    std::string name(reinterpret_cast<const char*>(h + 46), name_len);
    // Zip64 extended information: the 32-bit fields that overflowed, in
    // order.
    const uint8_t* extra = h + 46 + name_len;
    for (uint16_t e = 0; e + 4 <= extra_len;) {
      const uint16_t id = Get16(extra + e);
      const uint16_t len = Get16(extra + e + 2);
      if (id == 0x0001) {
        const uint8_t* v = extra + e + 4;
        if (entry.size == k32BitMax) entry.size = Get64(v), v += 8;
        if (entry.compressed_size == k32BitMax) {
          entry.compressed_size = Get64(v), v += 8;
        }
        if (entry.local_header_offset == k32BitMax) {
          entry.local_header_offset = Get64(v);
        }
      }
      e += 4 + len;
    }
    names_.push_back(name);
    entries_[name] = entry;
    pos += 46 + name_len + extra_len + comment_len;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> ZipReader::Size(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    return absl::NotFoundError(
        absl::StrCat(path_, ": no record '", name, "' in the archive"));
  }
  return it->second.size;
}

absl::Status ZipReader::ReadInto(const std::string& name, void* out,
                                 uint64_t size) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    return absl::NotFoundError(
        absl::StrCat(path_, ": no record '", name, "' in the archive"));
  }
  const Entry& entry = it->second;
  if (entry.method != 0) {
    return absl::UnimplementedError(absl::StrCat(
        path_, ": record '", name, "' is compressed (method ", entry.method,
        "); torch.save writes uncompressed records: re-save the file with "
        "torch.save"));
  }
  if (size != entry.size) {
    return Error(absl::StrCat("record '", name, "' has ", entry.size,
                              " bytes, expected ", size));
  }
  uint8_t header[30];
  if (absl::Status s = ReadAt(entry.local_header_offset, header, 30); !s.ok()) {
    return s;
  }
  if (Get32(header) != kLocalHeaderSig) {
    return Error(absl::StrCat("bad local header for record '", name, "'"));
  }
  const uint64_t data_offset =
      entry.local_header_offset + 30 + Get16(header + 26) + Get16(header + 28);
  if (absl::Status s = ReadAt(data_offset, out, size); !s.ok()) return s;
  if (Crc32(out, size) != entry.crc32) {
    return Error(absl::StrCat("CRC mismatch in record '", name, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ZipReader::Read(const std::string& name) const {
  absl::StatusOr<uint64_t> size = Size(name);
  if (!size.ok()) return size.status();
  if (*size > file_size_) return Error("record larger than the file");
  std::string data(*size, '\0');
  if (absl::Status s = ReadInto(name, data.data(), *size); !s.ok()) return s;
  return data;
}

// ---------------------------------------------------------------- writer ----

absl::StatusOr<ZipWriter> ZipWriter::Create(const std::string& path) {
  ZipWriter writer;
  writer.path_ = path;
  writer.file_ = std::fopen(path.c_str(), "wb");
  if (writer.file_ == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  return writer;
}

ZipWriter::ZipWriter(ZipWriter&& other) noexcept
    : path_(std::move(other.path_)),
      file_(other.file_),
      offset_(other.offset_),
      entries_(std::move(other.entries_)) {
  other.file_ = nullptr;
}

ZipWriter::~ZipWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status ZipWriter::Write(const void* data, uint64_t size) {
  if (size > 0 && std::fwrite(data, 1, size, file_) != size) {
    return absl::DataLossError(
        absl::StrCat("cannot write ", path_, ": ", std::strerror(errno)));
  }
  offset_ += size;
  return absl::OkStatus();
}

absl::Status ZipWriter::Add(const std::string& name, const void* data,
                            uint64_t size, uint64_t alignment) {
  if (file_ == nullptr) return absl::FailedPreconditionError("writer closed");
  if (size >= k32BitMax || offset_ >= k32BitMax) {
    return absl::UnimplementedError(absl::StrCat(
        path_, ": checkpoints over 4 GiB (zip64) are not supported yet"));
  }
  const uint32_t crc = Crc32(data, size);
  std::string header;
  Put32(&header, kLocalHeaderSig);
  Put16(&header, 20);    // version needed
  Put16(&header, 0);     // flags
  Put16(&header, 0);     // stored
  Put16(&header, 0);     // time
  Put16(&header, 0x21);  // date (1980-01-01), as miniz writes
  Put32(&header, crc);
  Put32(&header, static_cast<uint32_t>(size));
  Put32(&header, static_cast<uint32_t>(size));
  Put16(&header, static_cast<uint16_t>(name.size()));
  // Padding in an extra field ("FB", PyTorch's id) aligns the data.
  const uint64_t unpadded = offset_ + 30 + name.size();
  uint64_t padding = 0;
  if (alignment > 1 && unpadded % alignment != 0) {
    padding = alignment - unpadded % alignment;
    if (padding < 4) padding += alignment;
  }
  Put16(&header, static_cast<uint16_t>(padding));
  header += name;
  if (padding > 0) {
    Put16(&header, 0x4246);
    Put16(&header, static_cast<uint16_t>(padding - 4));
    header.append(padding - 4, 'Z');
  }
  entries_.push_back({name, offset_, size, crc});
  if (absl::Status s = Write(header.data(), header.size()); !s.ok()) return s;
  return Write(data, size);
}

absl::Status ZipWriter::Close() {
  if (file_ == nullptr) return absl::OkStatus();
  const uint64_t cd_offset = offset_;
  std::string cd;
  for (const Entry& e : entries_) {
    Put32(&cd, kCentralHeaderSig);
    Put16(&cd, 20);  // made by
    Put16(&cd, 20);  // needed
    Put16(&cd, 0);
    Put16(&cd, 0);
    Put16(&cd, 0);
    Put16(&cd, 0x21);
    Put32(&cd, e.crc32);
    Put32(&cd, static_cast<uint32_t>(e.size));
    Put32(&cd, static_cast<uint32_t>(e.size));
    Put16(&cd, static_cast<uint16_t>(e.name.size()));
    Put16(&cd, 0);  // extra
    Put16(&cd, 0);  // comment
    Put16(&cd, 0);  // disk
    Put16(&cd, 0);  // internal attributes
    Put32(&cd, 0);  // external attributes
    Put32(&cd, static_cast<uint32_t>(e.offset));
    cd += e.name;
  }
  std::string end;
  Put32(&end, kEndOfCentralDirSig);
  Put16(&end, 0);
  Put16(&end, 0);
  Put16(&end, static_cast<uint16_t>(entries_.size()));
  Put16(&end, static_cast<uint16_t>(entries_.size()));
  Put32(&end, static_cast<uint32_t>(cd.size()));
  Put32(&end, static_cast<uint32_t>(cd_offset));
  Put16(&end, 0);
  absl::Status status = Write(cd.data(), cd.size());
  if (status.ok()) status = Write(end.data(), end.size());
  if (std::fclose(file_) != 0 && status.ok()) {
    status = absl::DataLossError(absl::StrCat("cannot close ", path_));
  }
  file_ = nullptr;
  return status;
}

}  // namespace sam2::checkpoint
