#include "sam2/training/logging/profile_trace.h"

#include <torch/csrc/autograd/profiler_legacy.h>

#include <fstream>
#include <iomanip>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sam2::training {
namespace {

namespace profiler = torch::autograd::profiler;

std::string JsonEscaped(const char* text) {
  std::string out;
  for (const char* c = text; *c != '\0'; ++c) {
    if (*c == '"' || *c == '\\') out.push_back('\\');
    out.push_back(*c);
  }
  return out;
}

std::string ShapesJson(const std::vector<std::vector<int64_t>>& shapes) {
  std::vector<std::string> each;
  each.reserve(shapes.size());
  for (const auto& shape : shapes) {
    each.push_back(absl::StrCat("[", absl::StrJoin(shape, ","), "]"));
  }
  return absl::StrCat("[", absl::StrJoin(each, ","), "]");
}

}  // namespace

ProfileTrace::ProfileTrace(std::string path) : path_(std::move(path)) {
  profiler::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(
      torch::profiler::impl::ProfilerState::CPU,
      /*report_input_shapes=*/true));
}

ProfileTrace::~ProfileTrace() {
  if (recording_) profiler::disableProfilerLegacy();
}

absl::Status ProfileTrace::Finish() {
  recording_ = false;
  profiler::thread_event_lists lists = profiler::disableProfilerLegacy();
  std::ofstream out(path_);
  if (!out) {
    return absl::UnavailableError(
        absl::StrCat("profile trace ", path_, ": cannot open for writing"));
  }
  // Times count from the profiler's start mark; ranges pair by their
  // RecordFunction handle.
  const profiler::LegacyEvent* start = nullptr;
  for (const auto& list : lists) {
    for (const auto& event : list) {
      if (event.kindStr() == "mark" &&
          std::string(event.name()) == "__start_profile") {
        start = &event;
      }
    }
  }
  if (start == nullptr) {
    return absl::InternalError(
        absl::StrCat("profile trace ", path_, ": no start mark recorded"));
  }
  // Microseconds to the nanosecond: the default six digits would round a
  // time a second into the trace to ten microseconds.
  out << std::fixed << std::setprecision(3) << "[\n";
  bool first = true;
  std::map<std::pair<at::RecordFunctionHandle, int>,
           const profiler::LegacyEvent*>
      open;
  for (const auto& list : lists) {
    for (const auto& event : list) {
      const auto key = std::make_pair(event.handle(), event.nodeId());
      if (event.kindStr() == "push") {
        open[key] = &event;
      } else if (event.kindStr() == "pop") {
        auto it = open.find(key);
        if (it == open.end()) continue;
        const profiler::LegacyEvent& begin = *it->second;
        out << (first ? "" : ",\n") << "{\"name\": \""
            << JsonEscaped(begin.name())
            << "\", \"ph\": \"X\", \"ts\": " << start->cpuElapsedUs(begin)
            << ", \"dur\": " << begin.cpuElapsedUs(event)
            << ", \"tid\": " << begin.threadId()
            << ", \"pid\": \"CPU Functions\", \"args\": {\"shapes\": "
            << ShapesJson(begin.shapes()) << "}}";
        first = false;
        open.erase(it);
      }
    }
  }
  out << "\n]\n";
  out.close();
  if (!out) {
    return absl::DataLossError(
        absl::StrCat("profile trace ", path_, ": write failed"));
  }
  return absl::OkStatus();
}

}  // namespace sam2::training
