// The reference's text output, byte for byte: results.csv, the console
// table and summary, and the Python reprs and f-string paddings they use.
#ifndef SAM2_EVAL_REPORT_H_
#define SAM2_EVAL_REPORT_H_

#include <string>
#include <vector>

#include "eval/video_evaluator.h"

namespace sam2::eval {

struct GlobalScores {
  double j = 0;
  double f = 0;
  double jf = 0;  // (j + f) / 2
};

// Python's len() of a UTF-8 string: its code points.
size_t CodePointCount(const std::string& text);

// `f"{key:03}"` in Python 3.10+: an int is zero-padded on the left, a
// string is padded with '0' on the right ("7" -> "700").
std::string ObjectLabel(const std::string& key, bool is_int);

// `f"{x:.1f}"` (width 0) or `f"{x:>4.1f}"` (width 4).
std::string FormatFixed1(double x, int width);

// `repr(list_of_str)`, e.g. ['sav_a', 'sav_b'].
std::string PyListRepr(const std::vector<std::string>& items);

// The reference's `out_string`: header, global line, one line per object in
// video order; names padded to the longest video name (at least
// "Global score"), including videos with no reported object.
std::string ResultsCsv(const std::vector<VideoResult>& videos,
                       const GlobalScores& global);

// What the reference prints after scoring: the table (results.csv with
// commas as spaces), the summary and, if `time_taken_s` >= 0, the timing.
std::string ConsoleSummary(const std::string& results_csv,
                           const GlobalScores& global, double time_taken_s);

}  // namespace sam2::eval

#endif  // SAM2_EVAL_REPORT_H_
