// TensorBoard event files written natively: TFRecord framing (length, masked
// CRC-32C of the length, data, masked CRC-32C of the data) around Event
// protobufs, in events.out.tfevents.<time>.<host> under a log directory.
#ifndef SAM2_TRAINING_LOGGING_TENSORBOARD_EVENT_WRITER_H_
#define SAM2_TRAINING_LOGGING_TENSORBOARD_EVENT_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sam2/training/loop/trainer.h"

namespace sam2::tensorboard {

uint32_t Crc32c(const void* data, size_t size);
// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t MaskedCrc32c(const void* data, size_t size);

class EventWriter : public training::ScalarSink {
 public:
  // Creates `log_dir` and a new event file in it.
  static absl::StatusOr<std::unique_ptr<EventWriter>> Create(
      const std::string& log_dir, double flush_secs = 120);
  ~EventWriter() override;

  void AddScalar(const std::string& tag, double value, int64_t step) override;
  // An image summary (tf.Summary.Image): `png` is the encoded file, of
  // height x width pixels with `channels` channels (1 gray, 3 RGB, 4 RGBA).
  void AddImage(const std::string& tag, const std::string& png, int height,
                int width, int channels, int64_t step);
  void Flush() override;
  const std::string& path() const { return path_; }

 private:
  EventWriter(std::string path, std::FILE* file, double flush_secs)
      : path_(std::move(path)), file_(file), flush_secs_(flush_secs) {}
  void WriteRecord(const std::string& data);

  std::string path_;
  std::FILE* file_;
  double flush_secs_;
  double last_flush_ = 0;
};

struct ScalarEvent {
  std::string tag;
  float value;
  int64_t step;
  double wall_time;
};

struct ImageEvent {
  std::string tag;
  int64_t step;
  int height;
  int width;
  int colorspace;
  std::string encoded;  // the PNG file's bytes
};

// Reads an event file back, checking every CRC (tests, tools): its scalars
// and, when `images` is given, its images.
absl::StatusOr<std::vector<ScalarEvent>> ReadScalarEvents(
    const std::string& path, std::string* file_version = nullptr,
    std::vector<ImageEvent>* images = nullptr);

}  // namespace sam2::tensorboard

#endif  // SAM2_TRAINING_LOGGING_TENSORBOARD_EVENT_WRITER_H_
