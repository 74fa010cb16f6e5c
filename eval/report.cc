#include "eval/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace sam2::eval {
namespace {

std::string PadRight(const std::string& text, size_t width) {
  const size_t length = CodePointCount(text);
  return length >= width ? text : text + std::string(width - length, ' ');
}

// repr(str): single quotes unless the text has a single quote and no double
// quote; backslash, the quote and control characters escaped. Non-ASCII
// UTF-8 is kept as it is (Python keeps printable characters).
std::string PyStrRepr(const std::string& text) {
  const bool has_single = text.find('\'') != std::string::npos;
  const bool has_double = text.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out(1, quote);
  for (const char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == quote || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  out += quote;
  return out;
}

}  // namespace

size_t CodePointCount(const std::string& text) {
  size_t count = 0;
  for (const char c : text)
    count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

std::string ObjectLabel(const std::string& key, bool is_int) {
  const size_t length = CodePointCount(key);
  if (length >= 3) return key;
  const std::string pad(3 - length, '0');
  return is_int ? pad + key : key + pad;
}

std::string FormatFixed1(double x, int width) {
  // Python writes NaN as "nan" whatever its sign bit; printf may write
  // "-nan".
  if (std::isnan(x)) {
    const std::string nan = "nan";
    return width > 3 ? std::string(width - 3, ' ') + nan : nan;
  }
  char text[64];
  std::snprintf(text, sizeof(text), "%*.1f", width, x);
  return text;
}

std::string PyListRepr(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ", ";
    out += PyStrRepr(items[i]);
  }
  return out + "]";
}

std::string ResultsCsv(const std::vector<VideoResult>& videos,
                       const GlobalScores& global) {
  size_t ml = CodePointCount("Global score");
  for (const VideoResult& video : videos) {
    ml = std::max(ml, CodePointCount(video.name));
  }
  std::string out =
      absl::StrCat(PadRight("sequence", ml), ",obj,  J&F,    J,    F\n");
  absl::StrAppend(&out, PadRight("Global score", ml), ",   , ",
                  FormatFixed1(global.jf, 0), ", ", FormatFixed1(global.j, 0),
                  ", ", FormatFixed1(global.f, 0), "\n");
  for (const VideoResult& video : videos) {
    for (const ObjectResult& object : video.objects) {
      const double jf = (object.j + object.f) / 2;
      absl::StrAppend(&out, PadRight(video.name, ml), ",", object.label, ", ",
                      FormatFixed1(jf, 4), ", ", FormatFixed1(object.j, 4),
                      ", ", FormatFixed1(object.f, 4), "\n");
    }
  }
  return out;
}

std::string ConsoleSummary(const std::string& results_csv,
                           const GlobalScores& global, double time_taken_s) {
  std::string out = absl::StrReplaceAll(results_csv, {{",", " "}});
  absl::StrAppend(&out,
                  "\nSummary:\nGlobal score: J&F: ", FormatFixed1(global.jf, 0),
                  " J: ", FormatFixed1(global.j, 0),
                  " F: ", FormatFixed1(global.f, 0), "\n");
  if (time_taken_s >= 0) {
    char line[64];
    std::snprintf(line, sizeof(line), "Time taken: %.2fs\n", time_taken_s);
    out += line;
  }
  return out;
}

}  // namespace sam2::eval
