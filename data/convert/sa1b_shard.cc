#include "data/convert/sa1b_shard.h"

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "data/codecs/file_io.h"
#include "data/codecs/jpeg.h"
#include "data/codecs/rle.h"
#include "data/codecs/rle_json.h"
#include "data/transforms/image_ops.h"

namespace sam2::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Downsizes a pair whose image's longer side exceeds `max_side`: the image
// (re-encoded), and every kept annotation's mask, box, area, points and crop
// box. Masks that vanish are dropped. Returns false when nothing changed.
absl::StatusOr<bool> Downsize(const std::string& where, const Image& image,
                              int max_side, std::string& jpeg, json& doc,
                              Sa1bShardReport& report) {
  const int longer = std::max(image.height, image.width);
  if (max_side <= 0 || longer <= max_side) return false;
  const double scale = static_cast<double>(max_side) / longer;
  const int h = std::max(1, static_cast<int>(image.height * scale + 0.5));
  const int w = std::max(1, static_cast<int>(image.width * scale + 0.5));
  absl::StatusOr<std::string> encoded =
      EncodeJpeg(ops::ResizeImage(image, h, w), 95);
  if (!encoded.ok()) return encoded.status();
  jpeg = *std::move(encoded);
  json kept = json::array();
  for (json a : doc["annotations"]) {
    absl::StatusOr<Rle> rle = RleFromJson(a["segmentation"], where);
    if (!rle.ok()) return rle.status();
    absl::StatusOr<Mask> mask = DecodeRle(*rle, where);
    if (!mask.ok()) return mask.status();
    const Rle small = EncodeMask(ops::ResizeMask(*mask, h, w));
    const int64_t area = RleArea(small);
    if (area == 0) {
      ++report.annotations_dropped;
      --report.annotations_kept;
      continue;
    }
    const RleBox box = RleToBbox(small);
    a["segmentation"] = {{"size", {h, w}}, {"counts", RleToString(small)}};
    a["area"] = area;
    a["bbox"] = {box.x, box.y, box.width, box.height};
    if (a.contains("point_coords") && a["point_coords"].is_array()) {
      for (json& p : a["point_coords"]) {
        if (p.is_array() && p.size() == 2 && p[0].is_number() &&
            p[1].is_number()) {
          p = {p[0].get<double>() * w / image.width,
               p[1].get<double>() * h / image.height};
        }
      }
    }
    if (a.contains("crop_box")) a["crop_box"] = {0, 0, w, h};
    kept.push_back(std::move(a));
  }
  doc["annotations"] = kept;
  if (doc.contains("image") && doc["image"].is_object()) {
    doc["image"]["height"] = h;
    doc["image"]["width"] = w;
  }
  return true;
}

// The JSON to write for a pair (empty: the pair is dropped), after the
// checks and filters; appends to the report. With max_side, `jpeg` may be
// replaced by the downsized image.
std::string CheckPair(const std::string& where, std::string& jpeg,
                      const std::string& text, const Sa1bFilterOptions& f,
                      Sa1bShardReport& report) {
  const double t0 = Now();
  absl::StatusOr<Image> image = DecodeJpeg(
      reinterpret_cast<const uint8_t*>(jpeg.data()), jpeg.size(), where);
  report.jpeg_decode_seconds += Now() - t0;
  if (!image.ok()) {
    report.errors.push_back(std::string(image.status().message()));
    return "";
  }
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("annotations") ||
      !doc["annotations"].is_array()) {
    report.errors.push_back(
        absl::StrCat(where, ".json: not JSON with an \"annotations\" list"));
    return "";
  }
  if (doc.contains("image") && doc["image"].is_object()) {
    const json& im = doc["image"];
    if (im.value("height", image->height) != image->height ||
        im.value("width", image->width) != image->width) {
      report.errors.push_back(
          absl::StrCat(where, ".json: image size ", im.value("width", 0), "x",
                       im.value("height", 0), " but the JPEG is ", image->width,
                       "x", image->height));
      return "";
    }
  }
  const double image_area =
      static_cast<double>(image->height) * static_cast<double>(image->width);
  json kept = json::array();
  bool dropped = false;
  for (size_t i = 0; i < doc["annotations"].size(); ++i) {
    const json& a = doc["annotations"][i];
    const std::string source =
        absl::StrCat(where, ".json: annotations[", i, "]");
    auto drop = [&](const std::string& why) {
      dropped = true;
      ++report.annotations_dropped;
      if (!why.empty())
        report.errors.push_back(absl::StrCat(source, ": ", why));
    };
    if (!a.is_object() || !a.contains("segmentation") || !a.contains("area") ||
        !a["area"].is_number()) {
      drop("needs a \"segmentation\" and a numeric \"area\"");
      continue;
    }
    absl::StatusOr<Rle> rle = RleFromJson(a["segmentation"], source);
    if (!rle.ok()) {
      drop(std::string(rle.status().message()));
      continue;
    }
    if (rle->height != image->height || rle->width != image->width) {
      drop(absl::StrCat("mask size ", rle->width, "x", rle->height,
                        " is not the image's"));
      continue;
    }
    const double area = a["area"].get<double>();
    const int64_t mask_area = RleArea(*rle);
    if (std::abs(area - static_cast<double>(mask_area)) > 0.5) {
      drop(absl::StrCat("area ", area, " but the mask has ", mask_area,
                        " pixels"));
      continue;
    }
    if (a.contains("bbox") && a["bbox"].is_array() && a["bbox"].size() == 4) {
      const RleBox box = RleToBbox(*rle);
      const double want[4] = {
          static_cast<double>(box.x), static_cast<double>(box.y),
          static_cast<double>(box.width), static_cast<double>(box.height)};
      bool box_ok = true;
      for (int k = 0; k < 4; ++k) {
        box_ok = box_ok && a["bbox"][k].is_number() &&
                 std::abs(a["bbox"][k].get<double>() - want[k]) <= 1.0;
      }
      if (!box_ok) {
        drop(absl::StrCat("bbox ", a["bbox"].dump(), " is not the mask's [",
                          box.x, ", ", box.y, ", ", box.width, ", ", box.height,
                          "]"));
        continue;
      }
    }
    if (!(area > 0)) {
      drop("");
      continue;
    }
    // SA1BRawDataset's filters.
    auto uncertain = a.find("uncertain_iou");
    if (uncertain != a.end() && uncertain->is_number() &&
        uncertain->get<double>() < f.uncertain_iou) {
      drop("");
      continue;
    }
    if (f.mask_area_frac_thresh <= 1.0 &&
        area / image_area >= f.mask_area_frac_thresh) {
      drop("");
      continue;
    }
    kept.push_back(a);
  }
  if (kept.empty()) {
    report.errors.push_back(
        absl::StrCat(where, ".json: no annotation left: pair dropped"));
    return "";
  }
  report.annotations_kept += static_cast<int64_t>(kept.size());
  doc["annotations"] = kept;
  absl::StatusOr<bool> downsized =
      Downsize(where, *image, f.max_side, jpeg, doc, report);
  if (!downsized.ok()) {
    report.errors.push_back(std::string(downsized.status().message()));
    return "";
  }
  if (!dropped && !*downsized) return text;  // as it came
  if (doc["annotations"].empty()) {
    report.errors.push_back(absl::StrCat(
        where, ".json: no annotation left after downsizing: pair dropped"));
    return "";
  }
  return doc.dump();
}

// Pairs members by name ("sa_1.jpg" + "sa_1.json") as they stream in.
class Pairer {
 public:
  Pairer(const std::string& shard, const std::string& out,
         const Sa1bFilterOptions& f, Sa1bShardReport& r)
      : shard_(shard), out_(out), filters_(f), report_(r) {}

  absl::Status Add(const std::string& member, std::string bytes) {
    report_.bytes += static_cast<int64_t>(bytes.size());
    report_.content_crc32 = static_cast<uint32_t>(crc32(
        report_.content_crc32, reinterpret_cast<const Bytef*>(bytes.data()),
        static_cast<uInt>(bytes.size())));
    const std::string base = fs::path(member).filename().string();
    std::string stem, kind;
    if (absl::EndsWith(base, ".jpg")) {
      stem = base.substr(0, base.size() - 4);
      kind = "jpg";
    } else if (absl::EndsWith(base, ".json")) {
      stem = base.substr(0, base.size() - 5);
      kind = "json";
    } else {
      return absl::OkStatus();  // not part of a pair
    }
    Pending& p = pending_[stem];
    (kind == "jpg" ? p.jpeg : p.json) = std::move(bytes);
    (kind == "jpg" ? p.has_jpeg : p.has_json) = true;
    if (p.has_jpeg && p.has_json) {
      Pending done = std::move(p);
      pending_.erase(stem);
      return Finish(stem, done);
    }
    return absl::OkStatus();
  }

  void ReportUnpaired() {
    for (const auto& [stem, p] : pending_) {
      ++report_.images_dropped;
      report_.errors.push_back(
          absl::StrCat(shard_, ": ", stem,
                       p.has_jpeg ? ".jpg has no .json" : ".json has no .jpg"));
    }
  }

 private:
  struct Pending {
    std::string jpeg, json;
    bool has_jpeg = false, has_json = false;
  };

  absl::Status Finish(const std::string& stem, const Pending& p) {
    const std::string where = absl::StrCat(shard_, ": ", stem);
    std::string jpeg = p.jpeg;  // replaced when downsized
    const std::string text = CheckPair(where, jpeg, p.json, filters_, report_);
    if (text.empty()) {
      ++report_.images_dropped;
      return absl::OkStatus();
    }
    const std::string base = (fs::path(out_) / stem).string();
    if (absl::Status s = WriteFileAtomically(base + ".jpg", jpeg); !s.ok()) {
      return s;
    }
    if (absl::Status s = WriteFileAtomically(base + ".json", text); !s.ok()) {
      return s;
    }
    ++report_.images;
    report_.names.push_back(stem);
    return absl::OkStatus();
  }

  std::string shard_, out_;
  Sa1bFilterOptions filters_;
  Sa1bShardReport& report_;
  std::map<std::string, Pending> pending_;
};

struct ArchiveFree {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

absl::Status ReadTar(const std::string& path, Pairer& pairer) {
  std::unique_ptr<struct archive, ArchiveFree> a(archive_read_new());
  archive_read_support_format_tar(a.get());
  archive_read_support_filter_all(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 20) !=
      ARCHIVE_OK) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", archive_error_string(a.get())));
  }
  struct archive_entry* entry = nullptr;
  while (true) {
    const int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) return absl::OkStatus();
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return absl::DataLossError(absl::StrCat(
          path, ": unreadable tar: ", archive_error_string(a.get())));
    }
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    const std::string member = archive_entry_pathname(entry);
    std::string bytes;
    char buffer[1 << 16];
    la_ssize_t n;
    while ((n = archive_read_data(a.get(), buffer, sizeof(buffer))) > 0) {
      bytes.append(buffer, static_cast<size_t>(n));
    }
    if (n < 0) {
      return absl::DataLossError(absl::StrCat(
          path, ": ", member, " is cut off: ", archive_error_string(a.get())));
    }
    if (archive_entry_size_is_set(entry) &&
        static_cast<int64_t>(bytes.size()) != archive_entry_size(entry)) {
      return absl::DataLossError(
          absl::StrCat(path, ": ", member, " is cut off (", bytes.size(),
                       " of ", archive_entry_size(entry), " bytes)"));
    }
    if (absl::Status s = pairer.Add(member, std::move(bytes)); !s.ok()) {
      return s;
    }
  }
}

absl::Status ReadFolder(const std::string& dir, Pairer& pairer) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat(dir, ": cannot list: ", ec.message()));
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    absl::StatusOr<std::string> bytes = ReadFileToString(f.string());
    if (!bytes.ok()) return bytes.status();
    if (absl::Status s = pairer.Add(f.filename().string(), *std::move(bytes));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Sa1bShardReport> ProcessSa1bShard(
    const std::string& input, const std::string& output_dir,
    const Sa1bFilterOptions& filters) {
  Sa1bShardReport report;
  report.shard = fs::path(input).filename().string();
  std::error_code ec;
  fs::create_directories(output_dir, ec);
  Pairer pairer(report.shard, output_dir, filters, report);
  absl::Status status = fs::is_directory(input, ec) ? ReadFolder(input, pairer)
                                                    : ReadTar(input, pairer);
  if (!status.ok()) return status;
  pairer.ReportUnpaired();
  return report;
}

}  // namespace sam2::data
