#include "data/convert/coco_to_sa1b.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "data/codecs/file_io.h"
#include "data/codecs/jpeg.h"
#include "data/codecs/rle.h"
#include "data/codecs/rle_polygon.h"

namespace sam2::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One object's mask as pycocotools' annToRLE builds it.
absl::StatusOr<Rle> SegmentationToRle(const json& segmentation, int height,
                                      int width, const std::string& source) {
  if (segmentation.is_array()) {  // polygons
    std::vector<Rle> parts;
    for (const json& polygon : segmentation) {
      if (!polygon.is_array()) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": a polygon must be a list of numbers"));
      }
      std::vector<double> xy;
      for (const json& v : polygon) {
        if (!v.is_number()) {
          return absl::InvalidArgumentError(
              absl::StrCat(source, ": a polygon must be a list of numbers"));
        }
        xy.push_back(v.get<double>());
      }
      absl::StatusOr<Rle> rle = RleFromPolygon(xy, height, width, source);
      if (!rle.ok()) return rle.status();
      parts.push_back(*std::move(rle));
    }
    return RleUnion(parts, source);
  }
  if (!segmentation.is_object() || !segmentation.contains("counts") ||
      !segmentation.contains("size")) {
    return absl::InvalidArgumentError(
        absl::StrCat(source,
                     ": segmentation is neither polygons nor an RLE "
                     "{\"size\", \"counts\"}"));
  }
  const json& size = segmentation["size"];
  if (!size.is_array() || size.size() != 2 || size[0] != height ||
      size[1] != width) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": RLE size ", size.dump(),
                     " is not the image's [", height, ", ", width, "]"));
  }
  const json& counts = segmentation["counts"];
  if (counts.is_string()) {
    return RleFromString(counts.get<std::string>(), height, width, source);
  }
  if (!counts.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": RLE counts must be a string or a list"));
  }
  std::vector<uint32_t> values;
  for (const json& c : counts) {
    if (!c.is_number_unsigned()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": RLE counts must be non-negative integers"));
    }
    values.push_back(c.get<uint32_t>());
  }
  return RleFromCounts(std::move(values), height, width, source);
}

}  // namespace

absl::StatusOr<CocoToSa1bReport> ConvertCocoToSa1b(
    const CocoToSa1bOptions& options) {
  absl::StatusOr<std::string> text = ReadFileToString(options.annotations_json);
  if (!text.ok()) return text.status();
  json coco = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (coco.is_discarded() || !coco.is_object() || !coco.contains("images") ||
      !coco["images"].is_array() || !coco.contains("annotations") ||
      !coco["annotations"].is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.annotations_json,
                     ": not a COCO annotations file (needs \"images\" and "
                     "\"annotations\" lists)"));
  }
  std::error_code ec;
  fs::create_directories(options.output_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", options.output_dir, ": ", ec.message()));
  }
  std::map<int64_t, std::vector<const json*>> by_image;
  for (const json& a : coco["annotations"]) {
    if (a.is_object() && a.contains("image_id") &&
        a["image_id"].is_number_integer()) {
      by_image[a["image_id"].get<int64_t>()].push_back(&a);
    }
  }
  CocoToSa1bReport report;
  std::string file_list;
  for (const json& image : coco["images"]) {
    if (!image.is_object() || !image.contains("id") ||
        !image.contains("file_name") || !image.contains("height") ||
        !image.contains("width")) {
      report.errors.push_back(
          absl::StrCat(options.annotations_json,
                       ": an image entry lacks id, file_name, "
                       "height or width: ",
                       image.dump().substr(0, 120)));
      continue;
    }
    const int64_t id = image["id"].get<int64_t>();
    const int height = image["height"].get<int>();
    const int width = image["width"].get<int>();
    const std::string src =
        (fs::path(options.images_dir) / image["file_name"].get<std::string>())
            .string();
    absl::StatusOr<std::string> bytes = ReadFileToString(src);
    absl::StatusOr<ImageSize> size =
        bytes.ok()
            ? ReadJpegSize(reinterpret_cast<const uint8_t*>(bytes->data()),
                           bytes->size(), src)
            : absl::StatusOr<ImageSize>(bytes.status());
    if (!size.ok()) {
      report.errors.push_back(absl::StrCat("image ", id, ": ",
                                           size.status().message(),
                                           " (SA-1B images are JPEG files)"));
      continue;
    }
    if (size->height != height || size->width != width) {
      report.errors.push_back(absl::StrCat(
          "image ", id, ": ", src, " is ", size->width, "x", size->height,
          " but the annotations say ", width, "x", height));
      continue;
    }
    json objects = json::array();
    for (const json* a : by_image[id]) {
      const std::string source = absl::StrCat(
          options.annotations_json, ": annotation ",
          a->contains("id") ? (*a)["id"].dump() : "?", " of image ", id);
      if (!a->contains("segmentation")) {
        report.errors.push_back(absl::StrCat(source, ": no segmentation"));
        continue;
      }
      absl::StatusOr<Rle> rle =
          SegmentationToRle((*a)["segmentation"], height, width, source);
      if (!rle.ok()) {
        report.errors.push_back(std::string(rle.status().message()));
        continue;
      }
      const int64_t area = RleArea(*rle);
      if (area == 0 || area < options.min_area) {
        ++report.objects_dropped;
        continue;
      }
      const RleBox box = RleToBbox(*rle);
      objects.push_back({
          {"id", a->contains("id") ? (*a)["id"] : json(objects.size())},
          {"segmentation",
           {{"size", {height, width}}, {"counts", RleToString(*rle)}}},
          {"area", area},
          {"bbox", {box.x, box.y, box.width, box.height}},
          // SA-1B's quality fields, for its filters: COCO masks are
          // human annotations.
          {"predicted_iou", 1.0},
          {"stability_score", 1.0},
          {"crop_box", {0, 0, width, height}},
      });
    }
    if (objects.empty()) {
      ++report.images_without_objects;
      continue;
    }
    const std::string name = absl::StrCat("sa_", id);
    json out = {{"image",
                 {{"image_id", id},
                  {"width", width},
                  {"height", height},
                  {"file_name", name + ".jpg"}}},
                {"annotations", objects}};
    const std::string base = (fs::path(options.output_dir) / name).string();
    if (absl::Status s = WriteFileAtomically(base + ".jpg", *bytes); !s.ok()) {
      return s;
    }
    if (absl::Status s = WriteFileAtomically(base + ".json", out.dump());
        !s.ok()) {
      return s;
    }
    ++report.images;
    report.objects += static_cast<int64_t>(objects.size());
    absl::StrAppend(&file_list, name, "\n");
  }
  if (absl::Status s = WriteFileAtomically(
          (fs::path(options.output_dir) / "file_list.txt").string(), file_list);
      !s.ok()) {
    return s;
  }
  return report;
}

}  // namespace sam2::data
