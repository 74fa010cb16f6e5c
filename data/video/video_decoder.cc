#include "data/video/video_decoder.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"

namespace sam2::data {
namespace {

std::string AvError(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, text, sizeof(text));
  return text;
}

struct FormatCloser {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct CodecFreer {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameFreer {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketFreer {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsFreer {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};

// One decoded frame to RGB through swscale's BGR24 path as OpenCV 4.6 runs
// it: the conversion covers the decoder's coded size (macroblock-aligned;
// the chroma upsampling at the right and bottom edges reads the decoded
// padding), into a 32-byte-aligned frame, and the visible part is kept.
class Converter {
 public:
  absl::StatusOr<Image> ToRgb(const AVCodecContext& decoder,
                              const AVFrame& frame, const std::string& path) {
    const int coded_width = std::max(decoder.coded_width, frame.width);
    const int coded_height = std::max(decoder.coded_height, frame.height);
    if (!sws_ || coded_width != width_ || coded_height != height_ ||
        frame.format != format_) {
      width_ = coded_width;
      height_ = coded_height;
      format_ = frame.format;
      sws_.reset(sws_getContext(
          width_, height_, static_cast<AVPixelFormat>(format_), width_, height_,
          AV_PIX_FMT_BGR24, SWS_BICUBIC, nullptr, nullptr, nullptr));
      bgr_.reset(av_frame_alloc());
      bgr_->format = AV_PIX_FMT_BGR24;
      bgr_->width = width_;
      bgr_->height = height_;
      if (!sws_ || av_frame_get_buffer(bgr_.get(), 32) != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": cannot convert pixel format ", format_));
      }
    }
    sws_scale(sws_.get(), frame.data, frame.linesize, 0, height_, bgr_->data,
              bgr_->linesize);
    Image rgb(frame.height, frame.width, 3);
    for (int y = 0; y < frame.height; ++y) {
      const uint8_t* row = bgr_->data[0] + y * bgr_->linesize[0];
      uint8_t* out = rgb.data.data() + static_cast<size_t>(y) * frame.width * 3;
      for (int x = 0; x < frame.width; ++x) {
        out[3 * x] = row[3 * x + 2];
        out[3 * x + 1] = row[3 * x + 1];
        out[3 * x + 2] = row[3 * x];
      }
    }
    return rgb;
  }

 private:
  std::unique_ptr<SwsContext, SwsFreer> sws_;
  std::unique_ptr<AVFrame, FrameFreer> bgr_;
  int width_ = 0, height_ = 0, format_ = -1;
};

}  // namespace

absl::StatusOr<int64_t> DecodeVideo(
    const std::string& path,
    const std::function<absl::Status(int64_t, const Image&)>& on_frame) {
  AVFormatContext* raw_format = nullptr;
  if (int e = avformat_open_input(&raw_format, path.c_str(), nullptr, nullptr);
      e < 0) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", AvError(e)));
  }
  std::unique_ptr<AVFormatContext, FormatCloser> format(raw_format);
  if (int e = avformat_find_stream_info(format.get(), nullptr); e < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a readable video: ", AvError(e)));
  }
  const AVCodec* codec = nullptr;
  const int stream =
      av_find_best_stream(format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (stream < 0 || codec == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no decodable video stream"));
  }
  std::unique_ptr<AVCodecContext, CodecFreer> decoder(
      avcodec_alloc_context3(codec));
  avcodec_parameters_to_context(decoder.get(),
                                format->streams[stream]->codecpar);
  if (int e = avcodec_open2(decoder.get(), codec, nullptr); e < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot open the decoder: ", AvError(e)));
  }
  std::unique_ptr<AVFrame, FrameFreer> frame(av_frame_alloc());
  std::unique_ptr<AVPacket, PacketFreer> packet(av_packet_alloc());
  Converter converter;
  int64_t count = 0;
  absl::Status corrupt;  // reported after the frames that did decode
  // Receives every frame the decoder has ready.
  auto drain = [&]() -> absl::Status {
    while (true) {
      const int e = avcodec_receive_frame(decoder.get(), frame.get());
      if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) return absl::OkStatus();
      if (e < 0) {
        return absl::DataLossError(
            absl::StrCat(path, ": corrupt frame ", count, ": ", AvError(e)));
      }
      absl::StatusOr<Image> rgb = converter.ToRgb(*decoder, *frame, path);
      av_frame_unref(frame.get());
      if (!rgb.ok()) return rgb.status();
      if (absl::Status s = on_frame(count, *rgb); !s.ok()) return s;
      ++count;
    }
  };
  while (true) {
    const int e = av_read_frame(format.get(), packet.get());
    if (e == AVERROR_EOF) break;
    if (e < 0) {
      corrupt = absl::DataLossError(absl::StrCat(
          path, ": unreadable after ", count, " frames: ", AvError(e)));
      break;
    }
    if (packet->stream_index == stream) {
      const int s = avcodec_send_packet(decoder.get(), packet.get());
      av_packet_unref(packet.get());
      if (s < 0 && s != AVERROR(EAGAIN)) {
        corrupt = absl::DataLossError(absl::StrCat(
            path, ": corrupt data after ", count, " frames: ", AvError(s)));
        break;
      }
      if (absl::Status d = drain(); !d.ok()) return d;
    } else {
      av_packet_unref(packet.get());
    }
  }
  avcodec_send_packet(decoder.get(), nullptr);  // flush the delayed frames
  if (absl::Status d = drain(); !d.ok()) return d;
  if (!corrupt.ok()) return corrupt;
  if (count == 0) {
    return absl::DataLossError(absl::StrCat(path, ": no frame decoded"));
  }
  return count;
}

}  // namespace sam2::data
