// COCO RLE <-> JSON ({"size": [h, w], "counts": "..."} or counts as a list
// of integers). A separate target from :codecs because nlohmann/json is a
// heavy header.
#ifndef SAM2_DATA_CODECS_RLE_JSON_H_
#define SAM2_DATA_CODECS_RLE_JSON_H_

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "data/codecs/rle.h"

namespace sam2::data {

// Parses and validates one RLE object; errors name `source` (e.g.
// "path/to/file.json: masklet[3][1]").
absl::StatusOr<Rle> RleFromJson(const nlohmann::json& json,
                                absl::string_view source);

// {"size": [h, w], "counts": "<compressed string>"}.
nlohmann::json RleToJson(const Rle& rle);

}  // namespace sam2::data

#endif  // SAM2_DATA_CODECS_RLE_JSON_H_
