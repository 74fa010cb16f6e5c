#include "sam2/training/logging/run_log.h"

#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sam2::training {
namespace {

const char* LevelName(RunLog::Level level) {
  switch (level) {
    case RunLog::Level::kInfo:
      return "INFO";
    case RunLog::Level::kWarning:
      return "WARNING";
    case RunLog::Level::kError:
      return "ERROR";
  }
  return "?";
}

// JSON number: finite values as such, others as strings JSON can carry.
std::string JsonNumber(double v) {
  if (std::isnan(v)) return "\"nan\"";
  if (std::isinf(v)) return v > 0 ? "\"inf\"" : "\"-inf\"";
  std::ostringstream out;
  out << std::setprecision(10) << v;
  return out.str();
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

absl::StatusOr<std::unique_ptr<RunLog>> RunLog::Open(const std::string& log_dir,
                                                     int rank) {
  std::FILE* file = nullptr;
  if (!log_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(log_dir, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot create log directory ",
                                              log_dir, ": ", ec.message()));
    }
    const std::string name =
        rank == 0 ? "log.txt" : absl::StrCat("log_rank", rank, ".txt");
    const std::string path = absl::StrCat(log_dir, "/", name);
    file = std::fopen(path.c_str(), "a");
    if (file == nullptr) {
      return absl::InternalError(absl::StrCat("cannot open ", path));
    }
  }
  return std::unique_ptr<RunLog>(new RunLog(log_dir, rank, file));
}

RunLog::~RunLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void RunLog::Log(Level level, const std::string& message) {
  if (rank_ != 0 && level == Level::kInfo) return;
  const std::string line = absl::StrCat(
      LevelName(level), " ",
      absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::Now(), absl::LocalTimeZone()),
      rank_ == 0 ? "" : absl::StrCat(" rank ", rank_), " ", message, "\n");
  std::lock_guard<std::mutex> lock(mutex_);
  std::fputs(line.c_str(), level == Level::kInfo ? stdout : stderr);
  std::fflush(level == Level::kInfo ? stdout : stderr);
  if (file_ != nullptr) {
    std::fputs(line.c_str(), file_);
    std::fflush(file_);
  }
}

std::string RunLog::StatsLine(const std::map<std::string, double>& stats) {
  std::string line = "{";
  bool first = true;
  for (const auto& [key, value] : stats) {
    absl::StrAppend(&line, first ? "" : ", ", JsonString(key), ": ",
                    JsonNumber(value));
    first = false;
  }
  line += "}\n";
  return line;
}

absl::Status RunLog::AppendStats(const std::string& file_name,
                                 const std::map<std::string, double>& stats) {
  if (rank_ != 0 || log_dir_.empty()) return absl::OkStatus();
  const std::string line = StatsLine(stats);
  const std::string path = absl::StrCat(log_dir_, "/", file_name);
  std::ofstream out(path, std::ios::app);
  out << line;
  if (!out) return absl::InternalError("cannot append to " + path);
  return absl::OkStatus();
}

std::optional<double> RunLog::LastStatsValue(const std::string& file_name,
                                             const std::string& key) const {
  if (log_dir_.empty()) return std::nullopt;
  std::ifstream in(absl::StrCat(log_dir_, "/", file_name));
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  const std::string quoted = absl::StrCat(JsonString(key), ": ");
  const size_t at = last.find(quoted);
  if (at == std::string::npos) return std::nullopt;
  const char* start = last.c_str() + at + quoted.size();
  char* end = nullptr;
  const double value = std::strtod(start, &end);
  if (end == start) return std::nullopt;
  return value;
}

}  // namespace sam2::training
