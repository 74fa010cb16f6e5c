// The text side of a run's logs, in the reference's layout under
// <experiment_log_dir>/logs: `log.txt` with one timestamped line per event
// (rank 0 logs everything, other ranks only warnings and errors, as the
// reference does), and `train_stats.json` / `val_stats.json` with one JSON
// object per epoch.
#ifndef SAM2_TRAINING_LOGGING_RUN_LOG_H_
#define SAM2_TRAINING_LOGGING_RUN_LOG_H_

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace sam2::training {

class RunLog {
 public:
  enum class Level { kInfo, kWarning, kError };

  // Creates `log_dir` and opens log.txt for appending (log_rank<N>.txt on
  // ranks other than 0). An empty log_dir logs to stderr only.
  static absl::StatusOr<std::unique_ptr<RunLog>> Open(
      const std::string& log_dir, int rank);
  ~RunLog();

  void Info(const std::string& message) { Log(Level::kInfo, message); }
  void Warning(const std::string& message) { Log(Level::kWarning, message); }
  void Error(const std::string& message) { Log(Level::kError, message); }
  void Log(Level level, const std::string& message);

  // Appends {"key": value, ...} as one line to <log_dir>/<file_name>
  // (rank 0 only).
  absl::Status AppendStats(const std::string& file_name,
                           const std::map<std::string, double>& stats);

  // The JSON line AppendStats writes for `stats` (with its newline).
  static std::string StatsLine(const std::map<std::string, double>& stats);

  // The number under `key` in the last line of <log_dir>/<file_name>, as
  // AppendStats wrote it; nullopt when the file, the line or the key is
  // missing.
  std::optional<double> LastStatsValue(const std::string& file_name,
                                       const std::string& key) const;

  const std::string& log_dir() const { return log_dir_; }

 private:
  RunLog(std::string log_dir, int rank, std::FILE* file)
      : log_dir_(std::move(log_dir)), rank_(rank), file_(file) {}

  std::string log_dir_;
  int rank_;
  std::FILE* file_;
  std::mutex mutex_;
};

}  // namespace sam2::training

#endif  // SAM2_TRAINING_LOGGING_RUN_LOG_H_
