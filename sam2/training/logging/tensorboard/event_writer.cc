#include "sam2/training/logging/tensorboard/event_writer.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sam2/training/logging/tensorboard/event.pb.h"

namespace sam2::tensorboard {
namespace {

double WallTime() {
  return std::chrono::duration<double>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const std::array<uint32_t, 256>& Crc32cTable() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

void PutUint64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutUint32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t GetUint(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  }
  return v;
}

}  // namespace

uint32_t Crc32c(const void* data, size_t size) {
  const auto& table = Crc32cTable();
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < size; ++i)
    crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffffu;
}

uint32_t MaskedCrc32c(const void* data, size_t size) {
  const uint32_t crc = Crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

absl::StatusOr<std::unique_ptr<EventWriter>> EventWriter::Create(
    const std::string& log_dir, double flush_secs) {
  std::error_code ec;
  std::filesystem::create_directories(log_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", log_dir, ": ", ec.message()));
  }
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  const double now = WallTime();
  // The pid keeps two writers started in the same second apart.
  const std::string path =
      absl::StrFormat("%s/events.out.tfevents.%d.%s.%d", log_dir,
                      static_cast<int64_t>(now), host, getpid());
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create ", path));
  }
  std::unique_ptr<EventWriter> writer(new EventWriter(path, file, flush_secs));
  Event first;
  first.set_wall_time(now);
  first.set_file_version("brain.Event:2");
  writer->WriteRecord(first.SerializeAsString());
  writer->Flush();
  return writer;
}

EventWriter::~EventWriter() {
  if (file_ != nullptr) {
    std::fflush(file_);
    std::fclose(file_);
  }
}

void EventWriter::WriteRecord(const std::string& data) {
  std::string record;
  std::string length;
  PutUint64(&length, data.size());
  record += length;
  PutUint32(&record, MaskedCrc32c(length.data(), length.size()));
  record += data;
  PutUint32(&record, MaskedCrc32c(data.data(), data.size()));
  std::fwrite(record.data(), 1, record.size(), file_);
}

void EventWriter::AddScalar(const std::string& tag, double value,
                            int64_t step) {
  Event event;
  event.set_wall_time(WallTime());
  event.set_step(step);
  SummaryValue* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  WriteRecord(event.SerializeAsString());
  if (WallTime() - last_flush_ >= flush_secs_) Flush();
}

void EventWriter::AddImage(const std::string& tag, const std::string& png,
                           int height, int width, int channels, int64_t step) {
  Event event;
  event.set_wall_time(WallTime());
  event.set_step(step);
  SummaryValue* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  SummaryImage* image = v->mutable_image();
  image->set_height(height);
  image->set_width(width);
  image->set_colorspace(channels);
  image->set_encoded_image_string(png);
  WriteRecord(event.SerializeAsString());
  if (WallTime() - last_flush_ >= flush_secs_) Flush();
}

void EventWriter::Flush() {
  std::fflush(file_);
  last_flush_ = WallTime();
}

absl::StatusOr<std::vector<ScalarEvent>> ReadScalarEvents(
    const std::string& path, std::string* file_version,
    std::vector<ImageEvent>* images) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = buffer.str();
  std::vector<ScalarEvent> events;
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (pos + 12 > bytes.size()) {
      return absl::DataLossError(absl::StrCat(path, ": truncated record"));
    }
    const uint64_t length = GetUint(&bytes[pos], 8);
    if (GetUint(&bytes[pos + 8], 4) != MaskedCrc32c(&bytes[pos], 8)) {
      return absl::DataLossError(
          absl::StrCat(path, ": bad length CRC at ", pos));
    }
    if (pos + 12 + length + 4 > bytes.size()) {
      return absl::DataLossError(absl::StrCat(path, ": truncated record"));
    }
    const std::string data = bytes.substr(pos + 12, length);
    if (GetUint(&bytes[pos + 12 + length], 4) !=
        MaskedCrc32c(data.data(), data.size())) {
      return absl::DataLossError(absl::StrCat(path, ": bad data CRC at ", pos));
    }
    Event event;
    if (!event.ParseFromString(data)) {
      return absl::DataLossError(absl::StrCat(path, ": bad Event at ", pos));
    }
    if (event.has_file_version() && file_version != nullptr) {
      *file_version = event.file_version();
    }
    for (const SummaryValue& v : event.summary().value()) {
      if (v.value_case() == SummaryValue::kSimpleValue) {
        events.push_back(
            {v.tag(), v.simple_value(), event.step(), event.wall_time()});
      } else if (v.value_case() == SummaryValue::kImage && images != nullptr) {
        const SummaryImage& image = v.image();
        images->push_back({v.tag(), event.step(), image.height(),
                           image.width(), image.colorspace(),
                           image.encoded_image_string()});
      }
    }
    pos += 12 + length + 4;
  }
  return events;
}

}  // namespace sam2::tensorboard
