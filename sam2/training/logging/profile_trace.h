// A Chrome trace (chrome://tracing, Perfetto) of the LibTorch operators run
// while a ProfileTrace lives, with each operator's input shapes in its args,
// so that a profile can be read by shape as the reference's
// `key_averages(group_by_input_shape=True)` is.
#ifndef SAM2_TRAINING_LOGGING_PROFILE_TRACE_H_
#define SAM2_TRAINING_LOGGING_PROFILE_TRACE_H_

#include <string>

#include "absl/status/status.h"

namespace sam2::training {

class ProfileTrace {
 public:
  // Starts recording on this process's threads (the profiler is global).
  explicit ProfileTrace(std::string path);
  // Stops recording without writing if Finish was not called.
  ~ProfileTrace();
  ProfileTrace(const ProfileTrace&) = delete;
  ProfileTrace& operator=(const ProfileTrace&) = delete;

  // Stops recording and writes the trace to the path; an error names it.
  absl::Status Finish();

 private:
  std::string path_;
  bool recording_ = true;
};

}  // namespace sam2::training

#endif  // SAM2_TRAINING_LOGGING_PROFILE_TRACE_H_
