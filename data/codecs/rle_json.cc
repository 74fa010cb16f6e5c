#include "data/codecs/rle_json.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sam2::data {

absl::StatusOr<Rle> RleFromJson(const nlohmann::json& json,
                                absl::string_view source) {
  if (!json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": RLE must be an object, got ", json.type_name()));
  }
  const auto size = json.find("size");
  const auto counts = json.find("counts");
  if (size == json.end() || counts == json.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": RLE needs \"size\" and \"counts\""));
  }
  if (!size->is_array() || size->size() != 2 || !(*size)[0].is_number() ||
      !(*size)[1].is_number()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": RLE \"size\" must be [height, width]"));
  }
  const double height = (*size)[0].get<double>();
  const double width = (*size)[1].get<double>();
  if (height < 0 || width < 0 || height > std::numeric_limits<int>::max() ||
      width > std::numeric_limits<int>::max() ||
      height != static_cast<int>(height) || width != static_cast<int>(width)) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": RLE \"size\" [", height, ", ", width, "] is not valid"));
  }
  if (counts->is_string()) {
    return RleFromString(counts->get_ref<const std::string&>(),
                         static_cast<int>(height), static_cast<int>(width),
                         source);
  }
  if (counts->is_array()) {
    std::vector<uint32_t> values;
    values.reserve(counts->size());
    for (const nlohmann::json& c : *counts) {
      if (!c.is_number_integer() || c.get<int64_t>() < 0 ||
          c.get<int64_t>() > std::numeric_limits<uint32_t>::max()) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": RLE \"counts\" list holds ", c.dump(),
                         " (need non-negative integers)"));
      }
      values.push_back(static_cast<uint32_t>(c.get<int64_t>()));
    }
    return RleFromCounts(std::move(values), static_cast<int>(height),
                         static_cast<int>(width), source);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(source, ": RLE \"counts\" must be a string or a list, got ",
                   counts->type_name()));
}

nlohmann::json RleToJson(const Rle& rle) {
  return nlohmann::json{{"size", {rle.height, rle.width}},
                        {"counts", RleToString(rle)}};
}

}  // namespace sam2::data
