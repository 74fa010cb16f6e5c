// Command-line parsing shared by every job: --config, repeatable --set,
// --print_config, --help, plus the job's own flags. Unknown flags are errors
// (a typo must not silently fall back to a default).
#ifndef SAM2_CONFIGS_CLI_H_
#define SAM2_CONFIGS_CLI_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sam2::config {

struct FlagSpec {
  std::string name;        // without the leading "--"
  std::string value_name;  // e.g. "N"; empty for a boolean switch
  std::string help;
  std::string default_value;
};

struct CommandLine {
  std::string config;
  std::vector<std::string> sets;
  bool print_config = false;
  bool help = false;
  // Job-specific flags, by name; switches given without a value hold "true".
  std::map<std::string, std::string> values;
  std::vector<std::string> positional;

  bool Has(const std::string& name) const { return values.count(name) > 0; }
  std::string Get(const std::string& name) const;
  absl::StatusOr<int64_t> GetInt(const std::string& name) const;
};

// Parses argv. `job_flags` lists the job's own flags (their defaults fill
// `values`). Errors name the offending argument.
absl::StatusOr<CommandLine> ParseCommandLine(
    int argc, char** argv, const std::vector<FlagSpec>& job_flags);

// The --help text: `usage` first, then the common and the job's flags.
std::string HelpText(const std::string& usage,
                     const std::vector<FlagSpec>& job_flags);

// The common start of a job's main(): parses argv; an error is printed as
// "<program>: <message>" (exit code 2), --help prints HelpText (exit code
// 0), and unless `allow_positional` a positional argument is an error (2).
// Returns the command line, or nullopt with `*exit_code` set when main()
// should return at once.
std::optional<CommandLine> ParseJobCommandLine(
    const std::string& program, const std::string& usage, int argc, char** argv,
    const std::vector<FlagSpec>& job_flags, bool allow_positional,
    int* exit_code);

}  // namespace sam2::config

#endif  // SAM2_CONFIGS_CLI_H_
