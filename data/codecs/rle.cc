#include "data/codecs/rle.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sam2::data {
namespace {

int64_t CountsSum(const std::vector<uint32_t>& counts) {
  int64_t sum = 0;
  for (uint32_t c : counts) sum += c;
  return sum;
}

}  // namespace

absl::Status ValidateRle(const Rle& rle, absl::string_view source) {
  if (rle.height < 0 || rle.width < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": RLE size [", rle.height, ", ", rle.width, "] is negative"));
  }
  const int64_t expected = static_cast<int64_t>(rle.height) * rle.width;
  const int64_t sum = CountsSum(rle.counts);
  if (sum != expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": RLE counts sum to ", sum, " but size [", rle.height, ", ",
        rle.width, "] has ", expected, " pixels"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Rle> RleFromString(absl::string_view counts, int height,
                                  int width, absl::string_view source) {
  Rle rle;
  rle.height = height;
  rle.width = width;
  size_t p = 0;
  while (p < counts.size()) {
    int64_t value = 0;
    int shift = 0;
    bool more = true;
    while (more) {
      if (p >= counts.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            source, ": RLE string ends inside a count (at char ", p, ")"));
      }
      const int chunk = static_cast<unsigned char>(counts[p]) - 48;
      if (chunk < 0 || chunk > 63) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": RLE string has invalid character '",
                         counts.substr(p, 1), "' at ", p));
      }
      if (shift > 40) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": RLE count too long at char ", p));
      }
      value |= static_cast<int64_t>(chunk & 0x1f) << shift;
      more = (chunk & 0x20) != 0;
      ++p;
      shift += 5;
      if (!more && (chunk & 0x10)) value |= -(int64_t{1} << shift);  // sign
    }
    const size_t i = rle.counts.size();
    if (i > 2) value += rle.counts[i - 2];
    if (value < 0 || value > std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": RLE count ", i, " decodes to ", value, " (out of range)"));
    }
    rle.counts.push_back(static_cast<uint32_t>(value));
  }
  absl::Status status = ValidateRle(rle, source);
  if (!status.ok()) return status;
  return rle;
}

std::string RleToString(const Rle& rle) {
  std::string out;
  out.reserve(rle.counts.size() * 2);
  for (size_t i = 0; i < rle.counts.size(); ++i) {
    int64_t x = rle.counts[i];
    if (i > 2) x -= rle.counts[i - 2];
    bool more = true;
    while (more) {
      int chunk = static_cast<int>(x & 0x1f);
      x >>= 5;  // arithmetic shift keeps the sign
      more = (chunk & 0x10) ? x != -1 : x != 0;
      if (more) chunk |= 0x20;
      out.push_back(static_cast<char>(chunk + 48));
    }
  }
  return out;
}

absl::StatusOr<Rle> RleFromCounts(std::vector<uint32_t> counts, int height,
                                  int width, absl::string_view source) {
  Rle rle{height, width, std::move(counts)};
  absl::Status status = ValidateRle(rle, source);
  if (!status.ok()) return status;
  return rle;
}

Rle EncodeMask(const Mask& mask) {
  Rle rle;
  rle.height = mask.height;
  rle.width = mask.width;
  uint8_t previous = 0;
  uint32_t run = 0;
  for (int x = 0; x < mask.width; ++x) {
    for (int y = 0; y < mask.height; ++y) {
      const uint8_t value = mask.at(y, x) != 0;
      if (value != previous) {
        rle.counts.push_back(run);
        run = 0;
        previous = value;
      }
      ++run;
    }
  }
  rle.counts.push_back(run);
  return rle;
}

absl::StatusOr<Mask> DecodeRle(const Rle& rle, absl::string_view source) {
  absl::Status status = ValidateRle(rle, source);
  if (!status.ok()) return status;
  Mask mask(rle.height, rle.width);
  // Walk the column-major runs of 1s, writing row-major bytes column piece
  // by column piece.
  int64_t position = 0;
  for (size_t i = 0; i < rle.counts.size(); ++i) {
    int64_t remaining = rle.counts[i];
    if (i % 2 == 0) {
      position += remaining;
      continue;
    }
    while (remaining > 0) {
      const int64_t x = position / rle.height;
      const int64_t y = position - x * rle.height;
      const int64_t n = std::min<int64_t>(remaining, rle.height - y);
      uint8_t* out = mask.data.data() + y * rle.width + x;
      for (int64_t k = 0; k < n; ++k) out[k * rle.width] = 1;
      position += n;
      remaining -= n;
    }
  }
  return mask;
}

int64_t RleArea(const Rle& rle) {
  int64_t area = 0;
  for (size_t i = 1; i < rle.counts.size(); i += 2) area += rle.counts[i];
  return area;
}

RleBox RleToBbox(const Rle& rle) {
  // Every run of 1s covers [start, end) in column-major order. A run that
  // spans a column boundary covers the last row of one column and the first
  // row of the next, so the rows then span the full height.
  if (rle.height <= 0) return {};
  int64_t x_min = std::numeric_limits<int64_t>::max(), x_max = -1;
  int64_t y_min = std::numeric_limits<int64_t>::max(), y_max = -1;
  int64_t position = 0;
  for (size_t i = 0; i < rle.counts.size(); ++i) {
    const int64_t start = position;
    position += rle.counts[i];
    if (i % 2 == 0 || rle.counts[i] == 0) continue;
    const int64_t last = position - 1;
    const int64_t x0 = start / rle.height, y0 = start % rle.height;
    const int64_t x1 = last / rle.height, y1 = last % rle.height;
    x_min = std::min(x_min, x0);
    x_max = std::max(x_max, x1);
    if (x0 != x1) {
      y_min = 0;
      y_max = rle.height - 1;
    } else {
      y_min = std::min(y_min, y0);
      y_max = std::max(y_max, y1);
    }
  }
  if (x_max < 0) return {};
  return {static_cast<int>(x_min), static_cast<int>(y_min),
          static_cast<int>(x_max - x_min + 1),
          static_cast<int>(y_max - y_min + 1)};
}

absl::StatusOr<Rle> MergeRles(const std::vector<Rle>& rles, bool intersect,
                              absl::string_view source) {
  if (rles.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": cannot merge an empty list of RLEs"));
  }
  for (const Rle& rle : rles) {
    if (rle.height != rles[0].height || rle.width != rles[0].width) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": cannot merge RLEs of sizes [", rles[0].height, ", ",
          rles[0].width, "] and [", rle.height, ", ", rle.width, "]"));
    }
    absl::Status status = ValidateRle(rle, source);
    if (!status.ok()) return status;
  }
  Rle merged = rles[0];
  for (size_t k = 1; k < rles.size(); ++k) {
    // Sweep both run lists together, emitting runs of the combined value.
    const std::vector<uint32_t>& a = merged.counts;
    const std::vector<uint32_t>& b = rles[k].counts;
    std::vector<uint32_t> out;
    size_t ia = 0, ib = 0;
    int64_t left_a = a.empty() ? 0 : a[0], left_b = b.empty() ? 0 : b[0];
    int value_a = 0, value_b = 0;
    int current = 0;
    int64_t run = 0;
    auto advance = [](const std::vector<uint32_t>& runs, size_t& i,
                      int64_t& left, int& value) {
      while (left == 0 && i + 1 < runs.size()) {
        ++i;
        left = runs[i];
        value ^= 1;
      }
    };
    advance(a, ia, left_a, value_a);
    advance(b, ib, left_b, value_b);
    while (left_a > 0 && left_b > 0) {
      const int combined =
          intersect ? (value_a & value_b) : (value_a | value_b);
      const int64_t step = std::min(left_a, left_b);
      if (combined != current) {
        out.push_back(static_cast<uint32_t>(run));
        run = 0;
        current = combined;
      }
      run += step;
      left_a -= step;
      left_b -= step;
      advance(a, ia, left_a, value_a);
      advance(b, ib, left_b, value_b);
    }
    out.push_back(static_cast<uint32_t>(run));
    merged.counts = std::move(out);
  }
  return merged;
}

}  // namespace sam2::data
